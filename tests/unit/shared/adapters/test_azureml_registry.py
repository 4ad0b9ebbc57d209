"""The Azure ML registry adapter, asserted on the model version it would send."""

from types import SimpleNamespace

from shared.adapters.azureml_registry import AzureMLRegistry
from shared.registry import ModelCandidate

CANDIDATE = ModelCandidate(project="shapes", run_id="tfod-shapes-1", batch_id="shapes-1", dataset_version="ab12",
                           base_model="base-models/ssd", model_folder="shapes/shapes-1/model",
                           metrics={"map": 0.5, "map_50": 0.8})


def test_the_model_version_sent_keeps_lineage_to_the_job():
    body = AzureMLRegistry(None).build_model(CANDIDATE)._to_rest_object().as_dict()["properties"]
    assert body["modelUri"] == "azureml://jobs/tfod-shapes-1/outputs/model"
    assert body["modelType"] == "custom_model"
    assert body["tags"] == {"run_id": "tfod-shapes-1", "batch_id": "shapes-1", "dataset_version": "ab12",
                            "base_model": "base-models/ssd", "gates": "passed", "state": "pending-approval",
                            "metric_map": "0.5000", "metric_map_50": "0.8000"}


class Models:
    """Stands in for MLClient.models (Azure-only): keeps versions like the service and records calls."""

    def __init__(self):
        self.versions, self.calls = [], []

    def list(self, name):
        self.calls.append("list")
        return [v for v in self.versions if v.name == name]

    def create_or_update(self, model):
        self.calls.append("create_or_update")
        stored = SimpleNamespace(name=model.name, version=str(len(self.versions) + 1), tags=model.tags)
        self.versions.append(stored)
        return stored


def test_a_redelivered_completion_does_not_register_twice():
    registry = AzureMLRegistry(SimpleNamespace(models=Models()))
    first, again = registry.register(CANDIDATE), registry.register(CANDIDATE)
    assert (first.version, first.created, again.version, again.created) == ("1", True, "1", False)
    assert registry.ml_client.models.calls == ["list", "create_or_update", "list"]


def test_state_changes_rewrite_only_the_state_tag():
    from azure.ai.ml.entities import Model

    stored = Model(name="tfod-shapes", version="4", path="azureml://jobs/r/outputs/model",
                   tags={"run_id": "r", "state": "pending-approval"})
    sent = []
    client = SimpleNamespace(models=SimpleNamespace(get=lambda name, version: stored,
                                                    create_or_update=sent.append))
    AzureMLRegistry(client).set_state("tfod-shapes", "4", "deployed")
    assert sent[0].version == "4" and sent[0].tags == {"run_id": "r", "state": "deployed"}
