"""Training jobs through the real azure-ai-ml client: what Azure ML receives after the SDK resolved every name."""

from __future__ import annotations

from dataclasses import replace

import pytest
from azure.core.exceptions import HttpResponseError

from shared.adapters.azureml_training import AzureMLTraining
from shared.training import TrainingRequest
from tests.contract.conftest import azure_settings
from tests.fakes.azure_cloud import FakeAzure

REQUEST = TrainingRequest(project="shapes", batch_id="shapes-20261125-101500-123456",
                          dataset_version="ab12cd34ef56ab78",
                          manifest_container="manifests", manifest_blob="shapes/ab12cd34ef56ab78.json",
                          base_model="base-models/ssd_mobilenet_v2_128", num_steps=2000, batch_size=16,
                          output_prefix="shapes/shapes-20261125-101500-123456")


def training(azure: FakeAzure, **overrides) -> AzureMLTraining:
    return AzureMLTraining(azure.ml_client(), azure_settings(azure, **overrides))


def test_the_job_azure_ml_receives_has_resolved_environment_and_compute(azure):
    run = training(azure).submit(REQUEST)
    assert (run.run_id, run.created, run.status) == ("tfod-shapes-20261125-101500-123456", True, "Queued")
    props = azure.ml.job(run.job_name)["properties"]
    assert props["environmentId"] == f"{azure.ws.id}/environments/tfod-trainer-gpu/versions/1"
    assert props["computeId"] == f"{azure.ws.id}/computes/gpu-cluster"
    assert props["jobType"] == "Command" and props["experimentName"] == "tfod-shapes"
    assert props["inputs"] == {
        "manifests": {"jobInputType": "uri_folder", "mode": "ReadOnlyMount",
                      "uri": "azureml://datastores/manifests/paths/shapes"},
        "base_model": {"jobInputType": "uri_folder", "mode": "ReadOnlyMount",
                       "uri": "azureml://datastores/models/paths/base-models/ssd_mobilenet_v2_128"}}
    assert props["outputs"] == {"model": {
        "jobOutputType": "uri_folder", "mode": "ReadWriteMount",
        "uri": "azureml://datastores/models/paths/shapes/shapes-20261125-101500-123456/model"}}
    assert props["command"] == (
        "python -m trainer_image.train --manifest ${{inputs.manifests}}/ab12cd34ef56ab78.json "
        "--base-model ${{inputs.base_model}} "
        "--model-dir ${{outputs.model}} --checkpoint-url checkpoints/shapes/shapes-20261125-101500-123456 "
        "--num-steps 2000 --batch-size 16 --strategy default --export onnx")
    assert props["tags"] == {"tfod-retrain": "1", "project": "shapes", "batch_id": "shapes-20261125-101500-123456",
                             "dataset_version": "ab12cd34ef56ab78", "base_model": "base-models/ssd_mobilenet_v2_128"}
    assert props["environmentVariables"] == {
        "DataStorage__blobServiceUri": f"https://{azure.ws.data_account}.blob.core.windows.net",
        "DataStorage__clientId": "client-id-train", "TF_CPP_MIN_LOG_LEVEL": "1"}
    assert props["resources"]["instanceCount"] == 1 and props.get("distribution") is None
    assert props["status"] == "Queued", props.get("error")  # the cluster's identity may read and write all it needs


def test_a_retried_submission_finds_the_job_and_creates_nothing(azure):
    adapter = training(azure)
    first, retry = adapter.submit(REQUEST), adapter.submit(REQUEST)
    assert (first.created, retry.created) == (True, False) and first.run_id == retry.run_id
    assert [c for c in azure.ml.calls if c[1].startswith("jobs/")] == [
        ("GET", f"jobs/{first.job_name}"), ("PUT", f"jobs/{first.job_name}"), ("GET", f"jobs/{first.job_name}")]


def test_several_nodes_use_the_tensorflow_distribution_and_several_gpus_mirrored(azure):
    multi = training(azure, aml_instance_count=3, aml_gpus_per_node=4).submit(REQUEST)
    props = azure.ml.job(multi.job_name)["properties"]
    assert props["distribution"] == {"distributionType": "TensorFlow", "workerCount": 3, "parameterServerCount": 0}
    assert props["resources"]["instanceCount"] == 3 and "--strategy multi_worker_mirrored" in props["command"]
    single = training(azure, aml_gpus_per_node=4).submit(replace(REQUEST, batch_id="shapes-2"))
    props = azure.ml.job(single.job_name)["properties"]
    assert "--strategy mirrored" in props["command"] and props.get("distribution") is None


def test_the_champion_is_evaluated_and_warm_starts_only_when_the_label_map_is_unchanged(azure):
    adapter = training(azure)
    same = adapter.submit(replace(REQUEST, batch_id="s-1", champion_model="shapes/old/model", label_map_changed=False))
    grown = adapter.submit(replace(REQUEST, batch_id="s-2", champion_model="shapes/old/model"))
    same_props, grown_props = azure.ml.job(same.job_name)["properties"], azure.ml.job(grown.job_name)["properties"]
    assert same_props["command"].endswith("--champion ${{inputs.champion}} --warm-start")
    assert same_props["inputs"]["champion"]["uri"] == "azureml://datastores/models/paths/shapes/old/model"
    assert grown_props["command"].endswith("--champion ${{inputs.champion}}")


def test_the_exports_asked_for_are_written_by_the_job(azure):
    run = training(azure, export_formats="onnx,tflite").submit(REQUEST)
    assert azure.ml.job(run.job_name)["properties"]["command"].endswith(
        "--strategy default --export onnx --export tflite")


def test_names_from_any_project_fit_azure_rules_and_never_collide(azure):
    adapter = training(azure)
    names = set()
    for project in ("Cats & Dogs", "Cats  Dogs", "vögel"):
        run = adapter.submit(replace(REQUEST, project=project, batch_id=f"{project}-20261125-101500-1"))
        names.add(azure.ml.job(run.job_name)["properties"]["experimentName"])
    assert len(names) == 3 and all(n.startswith("tfod-") for n in names)


def test_cancel_asks_azure_ml_and_the_job_ends_canceled(azure):
    adapter = training(azure)
    run = adapter.submit(REQUEST)
    adapter.cancel(run.job_name)
    assert azure.ml.job(run.job_name)["properties"]["status"] == "CancelRequested"
    azure.ml.settle()
    assert azure.ml.job(run.job_name)["properties"]["status"] == "Canceled"


def test_an_environment_that_does_not_exist_fails_the_submission_by_name(azure):
    with pytest.raises(Exception, match="tfod-trainer-cpu"):
        training(azure, aml_environment="tfod-trainer-cpu@latest").submit(REQUEST)
    assert not [c for c in azure.ml.calls if c[0] == "PUT"]


def test_without_workspace_storage_access_the_cluster_cannot_run_jobs():
    """The cluster's identity writes the job's snapshot, logs and outputs on the workspace's default storage."""
    azure = FakeAzure(FakeAzure().grants.without("compute", "Storage Blob Data Contributor", "mlStorage"))
    run = training(azure).submit(REQUEST)
    job = azure.ml.job(run.job_name)["properties"]
    assert job["status"] == "Failed" and "AuthorizationPermissionMismatch" in job["error"]


def test_the_function_cannot_use_the_workspace_without_its_role():
    azure = FakeAzure(FakeAzure().grants.without("function", "AzureML Data Scientist", "workspace"))
    with pytest.raises(HttpResponseError, match="AuthorizationFailed"):
        training(azure).submit(REQUEST)


def test_asking_azure_ml_about_a_silent_run(azure):
    adapter = training(azure)
    run = adapter.submit(REQUEST)
    assert adapter.status(run.job_name).status == "Queued"
    azure.ml.finish_job(run.job_name, "Failed")
    failed = adapter.status(run.job_name)
    assert (failed.status, failed.reason) == ("Failed", "Azure ML reports the job Failed")
    assert adapter.status("tfod-never-submitted").status == "Lost"


def test_a_shard_cache_left_by_earlier_runs_is_mounted_and_read_in_place(azure):
    """A project's first run has no cache folder (a mount of a missing path fails the job): no input then."""
    cached = training(azure).submit(replace(REQUEST, batch_id="c-1", tfrecord_cache="shapes/tfrecord-cache"))
    props = azure.ml.job(cached.job_name)["properties"]
    assert props["inputs"]["tfrecord_cache"] == {"jobInputType": "uri_folder", "mode": "ReadOnlyMount",
                                                 "uri": "azureml://datastores/checkpoints/paths/shapes/tfrecord-cache"}
    assert props["command"].endswith("--tfrecord-cache-dir ${{inputs.tfrecord_cache}} --tfrecord-cache-mounted")
    assert props["status"] == "Queued", props.get("error")  # the cluster may read the checkpoints datastore
    first = azure.ml.job(training(azure).submit(replace(REQUEST, batch_id="c-0")).job_name)["properties"]
    assert "tfrecord_cache" not in first["inputs"] and "--tfrecord-cache" not in first["command"]
