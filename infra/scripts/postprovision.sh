#!/bin/sh
# After provisioning: build the GPU trainer image and the CPU (serving) image in the registry (the environments
# point at them) and
# upload the sample base model. Uses the outputs azd exported from infra/main.bicep.
set -eu
az acr build --registry "$AZURE_CONTAINER_REGISTRY_NAME" --image tfod-trainer:gpu --file trainer_image/Dockerfile.gpu .
# The CPU image also serves: the online endpoints' environment (score.py under azureml-inference-server-http).
az acr build --registry "$AZURE_CONTAINER_REGISTRY_NAME" --image tfod-trainer:cpu --file trainer_image/Dockerfile .
az storage blob upload-batch --auth-mode login --account-name "$AZURE_DATA_STORAGE_ACCOUNT" \
  --destination models --destination-path base-models/ssd_mobilenet_v2_128 \
  --source trainer_image/base_models/ssd_mobilenet_v2_128 --overwrite
