"""ModelRegistry over the Azure ML model registry (azure-ai-ml): the job's output, with lineage tags."""

from __future__ import annotations

from typing import Any

from azure.ai.ml.entities import Model
from azure.core.exceptions import ResourceNotFoundError

from shared.registry import ModelCandidate, RegisteredModel


class AzureMLRegistry:
    def __init__(self, ml_client: Any) -> None:
        self.ml_client = ml_client

    def build_model(self, candidate: ModelCandidate) -> Model:
        """Registered from the job's `model` output, so Azure ML keeps the lineage to the run. The whole named
        output, without `/paths/…`: the form Azure/azureml-examples registers from (the fine-tuned model in
        sdk/python/foundation-models/system/finetune/image-object-detection/mmdetection-fridgeobjects-object-detection
        .ipynb: `azureml://jobs/{job}/outputs/trained_model`); `/paths/<p>` is for a path inside an output."""
        return Model(name=candidate.name, type="custom_model",
                     path=f"azureml://jobs/{candidate.run_id}/outputs/model",
                     description=f"{candidate.project}: dataset {candidate.dataset_version}, run {candidate.run_id}",
                     tags=candidate.tags(), properties=candidate.properties())

    def register(self, candidate: ModelCandidate) -> RegisteredModel:
        """A redelivered completion finds the version already registered for this run."""
        for existing in self.versions(candidate.name):
            if (existing.tags or {}).get("run_id") == candidate.run_id:
                return RegisteredModel(existing.name, str(existing.version), existing.tags.get("state", ""), False)
        model = self.ml_client.models.create_or_update(self.build_model(candidate))
        return RegisteredModel(model.name, str(model.version), candidate.tags()["state"], True)

    def versions(self, name: str) -> list[Model]:
        """A name's versions; none before the first registration, whether the service answers an empty list or
        404 for a model container that does not exist yet (the spec allows both: 200, or its default error)."""
        try:
            return list(self.ml_client.models.list(name=name))
        except ResourceNotFoundError:
            return []

    def set_state(self, name: str, version: str, state: str) -> None:
        """Tags and description are the mutable part of a model version: the state lives in a tag."""
        model = self.ml_client.models.get(name=name, version=version)
        model.tags = dict(model.tags or {}) | {"state": state}
        self.ml_client.models.create_or_update(model)
