"""The Azure ML adapter, asserted on exactly what it would send (Azure ML cannot be reached from here)."""

from azure.core.exceptions import ResourceNotFoundError

from shared.adapters.azureml_training import AzureMLTraining
from shared.settings import Settings
from shared.training import TrainingRequest

SETTINGS = Settings(blob_service_uri="https://data.blob.core.windows.net", aml_compute="gpu-cluster",
                    aml_environment="tfod-trainer-gpu@latest", compute_identity_client_id="cid-123")
REQUEST = TrainingRequest(project="shapes", batch_id="shapes-20261125-101500-123456",
                          dataset_version="ab12cd34ef56ab78",
                          manifest_container="manifests", manifest_blob="shapes/ab12cd34ef56ab78.json",
                          base_model="base-models/ssd_mobilenet_v2_128", num_steps=2000, batch_size=16,
                          output_prefix="shapes/shapes-20261125-101500-123456")


def rest_body(settings=SETTINGS, request=REQUEST) -> dict:
    return AzureMLTraining(None, settings).build_job(request)._to_rest_object().as_dict()


def test_the_job_specification_sent_to_azure_ml():
    body = rest_body()
    props = body["properties"]
    assert body["name"] == "tfod-shapes-20261125-101500-123456"
    assert props["jobType"] == "Command"
    assert (props["computeId"], props["environmentId"]) == ("gpu-cluster", "tfod-trainer-gpu@latest")
    assert props["experimentName"] == "tfod-shapes"
    assert props["inputs"] == {
        "manifest": {"jobInputType": "uri_file",
                     "uri": "azureml://datastores/manifests/paths/shapes/ab12cd34ef56ab78.json"},
        "base_model": {"jobInputType": "uri_folder", "mode": "ReadOnlyMount",
                       "uri": "azureml://datastores/models/paths/base-models/ssd_mobilenet_v2_128"},
    }
    assert props["outputs"] == {"model": {
        "jobOutputType": "uri_folder", "mode": "ReadWriteMount",
        "uri": "azureml://datastores/models/paths/shapes/shapes-20261125-101500-123456/model"}}
    assert props["command"] == (
        "python -m trainer_image.train --manifest ${{inputs.manifest}} --base-model ${{inputs.base_model}} "
        "--model-dir ${{outputs.model}} --checkpoint-url checkpoints/shapes/shapes-20261125-101500-123456 "
        "--num-steps 2000 --batch-size 16 --strategy default")
    assert props["tags"] == {"tfod-retrain": "1", "project": "shapes", "batch_id": "shapes-20261125-101500-123456",
                             "dataset_version": "ab12cd34ef56ab78", "base_model": "base-models/ssd_mobilenet_v2_128"}
    assert props["environmentVariables"] == {"DataStorage__blobServiceUri": "https://data.blob.core.windows.net",
                                             "DataStorage__clientId": "cid-123", "TF_CPP_MIN_LOG_LEVEL": "1"}
    assert props["resources"]["instanceCount"] == 1 and props.get("distribution") is None


def test_several_nodes_use_the_tensorflow_distribution_and_several_gpus_mirrored():
    multi = rest_body(SETTINGS.with_overrides(aml_instance_count=3, aml_gpus_per_node=4))["properties"]
    assert multi["distribution"] == {"distributionType": "TensorFlow", "workerCount": 3, "parameterServerCount": 0}
    assert multi["resources"]["instanceCount"] == 3
    assert "--strategy multi_worker_mirrored" in multi["command"]
    single = rest_body(SETTINGS.with_overrides(aml_gpus_per_node=4))["properties"]
    assert "--strategy mirrored" in single["command"] and single.get("distribution") is None


def test_the_champion_is_always_evaluated_and_warm_starts_only_when_the_label_map_is_unchanged():
    from dataclasses import replace

    same = rest_body(request=replace(REQUEST, champion_model="shapes/old/model", label_map_changed=False))
    assert same["properties"]["command"].endswith("--champion ${{inputs.champion}} --warm-start")
    assert same["properties"]["inputs"]["champion"]["uri"] == "azureml://datastores/models/paths/shapes/old/model"
    grown = rest_body(request=replace(REQUEST, champion_model="shapes/old/model", label_map_changed=True))
    assert grown["properties"]["command"].endswith("--champion ${{inputs.champion}}")
    assert "--champion" not in rest_body()["properties"]["command"]


class JobsOperations:
    """Stands in for MLClient.jobs (an Azure-only service): records calls, keeps jobs by name like the service."""

    def __init__(self):
        self.jobs, self.calls = {}, []

    def get(self, name):
        self.calls.append(("get", name))
        if name not in self.jobs:
            raise ResourceNotFoundError(f"job {name} not found")
        return self.jobs[name]

    def create_or_update(self, job):
        self.calls.append(("create_or_update", job.name))
        self.jobs[job.name] = job
        return job


def test_a_retried_submission_finds_the_job_instead_of_starting_another():
    client = type("MLClient", (), {"jobs": JobsOperations()})()
    adapter = AzureMLTraining(client, SETTINGS)
    first, retry = adapter.submit(REQUEST), adapter.submit(REQUEST)
    assert (first.created, retry.created) == (True, False)
    assert first.run_id == retry.run_id == "tfod-shapes-20261125-101500-123456"
    assert [c[0] for c in client.jobs.calls] == ["get", "create_or_update", "get"]
