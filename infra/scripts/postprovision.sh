#!/bin/sh
# After provisioning: build the GPU trainer image, the CPU (serving) image and the ONNX-only serving image in the
# registry (the environments point at them) and upload the sample base model. Uses the outputs azd exported from
# infra/main.bicep.
# ACR Tasks (az acr build) by default; trial and free-credit offers refuse ACR Tasks (the preflight says so): with
# USE_DOCKER_BUILD=true the local Docker builds and pushes instead, with USE_AML_BUILD=true Azure ML builds each image
# from its Dockerfile on the workspace's image build cluster (python -m local_mode aml-build), on first use.
set -eu
build() {  # repository:tag, Dockerfile
  if [ "${USE_DOCKER_BUILD:-false}" = "true" ]; then
    image="$AZURE_CONTAINER_REGISTRY_NAME.azurecr.io/$1"
    docker build --file "$2" --tag "$image" . && docker push "$image"
  else
    az acr build --registry "$AZURE_CONTAINER_REGISTRY_NAME" --image "$1" --file "$2" .
  fi
}
if [ "${USE_AML_BUILD:-false}" = "true" ]; then
  [ -x .venv/bin/python ] || bash scripts/setup_env.sh
  .venv/bin/python -m local_mode aml-build --azure
elif [ "${USE_DOCKER_BUILD:-false}" = "true" ]; then
  command -v docker >/dev/null || {
    echo "postprovision: USE_DOCKER_BUILD is true but docker is not installed" >&2
    exit 1
  }
  az acr login --name "$AZURE_CONTAINER_REGISTRY_NAME"
fi
if [ "${USE_AML_BUILD:-false}" != "true" ]; then
  build tfod-trainer:gpu trainer_image/Dockerfile.gpu
  # The CPU image also serves: the online endpoints' environment (score.py under azureml-inference-server-http).
  build tfod-trainer:cpu trainer_image/Dockerfile
  # Models whose ONNX export passed its parity gate are served from an image without TensorFlow.
  build tfod-serving:onnx trainer_image/Dockerfile.serving-onnx
fi
az storage blob upload-batch --auth-mode login --account-name "$AZURE_DATA_STORAGE_ACCOUNT" \
  --destination models --destination-path base-models/ssd_mobilenet_v2_128 \
  --source trainer_image/base_models/ssd_mobilenet_v2_128 --overwrite
