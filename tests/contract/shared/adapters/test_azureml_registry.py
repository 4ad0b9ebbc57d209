"""Model registration through the real azure-ai-ml client, from a training job's output."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from shared.adapters.azureml_registry import AzureMLRegistry
from shared.adapters.azureml_training import AzureMLTraining
from shared.registry import ModelCandidate, export_properties
from tests.contract.conftest import azure_settings
from tests.contract.shared.adapters.test_azureml_training import REQUEST

METRICS = {"exports": {
    "onnx": {"file": "model.onnx", "bytes": 3_600_123, "seconds": 24.1,
             "parity": {"map_50": 0.7991, "map_50_drop": 0.0009, "images": 40}},
    "tflite-int8": {"error": "TFLite export is for SSD models (this one is faster_rcnn)", "seconds": 0.2}}}


def candidate_of(run_id: str) -> ModelCandidate:
    return ModelCandidate(project="shapes", run_id=run_id, batch_id=REQUEST.batch_id, dataset_version="ab12",
                          base_model="base-models/ssd", model_folder="shapes/b1/model",
                          metrics={"map": 0.5, "map_50": 0.8}, exports=export_properties(METRICS))


@pytest.fixture
def completed_run(azure) -> str:
    run = AzureMLTraining(azure.ml_client(), azure_settings(azure)).submit(REQUEST)
    azure.ml.finish_job(run.job_name)
    return run.run_id


@pytest.mark.parametrize("before_first", ["empty list", "404"])
def test_a_completed_runs_output_is_registered_with_its_lineage(azure, completed_run, before_first):
    """Before the first version the name has no container: an empty list or a 404, the first version either way."""
    if before_first == "404":
        azure.ml.missing_container_is_404.add("models")
    registered = AzureMLRegistry(azure.ml_client()).register(candidate_of(completed_run))
    assert (registered.name, registered.version, registered.created) == ("tfod-shapes", "1", True)
    stored = azure.ml.get("models/tfod-shapes/versions/1")["properties"]
    assert stored["modelUri"] == f"azureml://jobs/{completed_run}/outputs/model"
    assert stored["modelType"] == "custom_model"
    assert stored["tags"] == {"run_id": completed_run, "batch_id": REQUEST.batch_id, "dataset_version": "ab12",
                              "base_model": "base-models/ssd", "gates": "passed", "state": "pending-approval",
                              "metric_map": "0.5000", "metric_map_50": "0.8000"}
    assert stored["properties"] == {  # the exports, for whoever ships or serves them, next to the package's folder
        "model_folder": "shapes/b1/model", "export_onnx_file": "model.onnx", "export_onnx_bytes": "3600123",
        "export_onnx_map_50": "0.7991", "export_onnx_map_50_drop": "0.0009",
        "export_tflite_int8_error": "TFLite export is for SSD models (this one is faster_rcnn)"}


def test_a_redelivered_completion_finds_the_version_instead_of_registering_twice(azure, completed_run):
    registry = AzureMLRegistry(azure.ml_client())
    first, again = registry.register(candidate_of(completed_run)), registry.register(candidate_of(completed_run))
    assert (first.version, again.version, again.created) == ("1", "1", False)
    assert [c for c in azure.ml.calls if c[0] == "PUT" and c[1].startswith("models/")] == [
        ("PUT", "models/tfod-shapes/versions/1")]


def test_the_next_run_gets_the_next_version(azure, completed_run):
    from dataclasses import replace

    registry = AzureMLRegistry(azure.ml_client())
    registry.register(candidate_of(completed_run))
    second = AzureMLTraining(azure.ml_client(), azure_settings(azure)).submit(replace(REQUEST, batch_id="shapes-2"))
    azure.ml.finish_job(second.job_name)
    assert registry.register(candidate_of(second.run_id)).version == "2"


def test_state_changes_rewrite_only_the_state_tag(azure, completed_run):
    registry = AzureMLRegistry(azure.ml_client())
    registry.register(candidate_of(completed_run))
    registry.set_state("tfod-shapes", "1", "deployed")
    stored = azure.ml.get("models/tfod-shapes/versions/1")["properties"]
    assert stored["tags"]["state"] == "deployed" and stored["tags"]["run_id"] == completed_run
    assert stored["modelUri"] == f"azureml://jobs/{completed_run}/outputs/model"


def test_a_run_that_has_not_completed_cannot_be_registered(azure):
    run = AzureMLTraining(azure.ml_client(), azure_settings(azure)).submit(REQUEST)
    with pytest.raises(HttpResponseError, match="only outputs of completed jobs"):
        AzureMLRegistry(azure.ml_client()).register(candidate_of(run.run_id))


def test_a_job_without_the_model_output_is_refused_with_the_services_code(azure, completed_run):
    """Registered from the whole named output (the form Azure/azureml-examples' fine-tuning notebooks register
    from); a job without that output answers NoMatchingOutputFoundFromJob, as the service does."""
    del azure.ml.resources[f"jobs/{completed_run}"]["properties"]["outputs"]["model"]
    with pytest.raises(HttpResponseError, match="NoMatchingOutputFoundFromJob") as refused:
        AzureMLRegistry(azure.ml_client()).register(candidate_of(completed_run))
    assert "Job output model not found" in str(refused.value)


def test_a_project_name_azure_would_refuse_as_a_model_name_is_cleaned(azure):
    from dataclasses import replace

    run = AzureMLTraining(azure.ml_client(), azure_settings(azure)).submit(
        replace(REQUEST, project="Cats & Dogs", batch_id="Cats & Dogs-20261125-101500-1"))
    azure.ml.finish_job(run.job_name)
    candidate = replace(candidate_of(run.run_id), project="Cats & Dogs")
    registered = AzureMLRegistry(azure.ml_client()).register(candidate)
    assert registered.name.startswith("tfod-Cats-Dogs-") and registered.version == "1"
