"""TrainingBackend over Azure Machine Learning (azure-ai-ml, SDK v2): one command job per batch."""

from __future__ import annotations

import logging
import shlex
from typing import Any

from azure.ai.ml import Input, MLClient, Output, TensorFlowDistribution, command
from azure.ai.ml.entities import Command
from azure.core.exceptions import ResourceNotFoundError

from shared.naming import EXPERIMENT, azure_name
from shared.settings import Settings, SettingsError
from shared.training import JobState, SubmittedRun, TrainingRequest, export_arguments, model_folder

log = logging.getLogger(__name__)


def ml_client(settings: Settings) -> MLClient:
    """The workspace client, with the function's managed identity (or developer credentials)."""
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    missing = [n for n, v in (("AZURE_SUBSCRIPTION_ID", settings.azure_subscription_id),
                              ("AZURE_RESOURCE_GROUP", settings.azure_resource_group),
                              ("AML_WORKSPACE", settings.aml_workspace)) if not v]
    if missing:
        raise SettingsError(f"TRAINING_BACKEND=azureml needs {', '.join(missing)}")
    credential = (ManagedIdentityCredential(client_id=settings.aml_client_id) if settings.aml_client_id
                  else DefaultAzureCredential())
    # show_progress=False: the SDK would print upload bars and dots to stdout (the host's log, `--json` output)
    return MLClient(credential, settings.azure_subscription_id, settings.azure_resource_group,
                    settings.aml_workspace, show_progress=False)


def datastore_uri(container: str, path: str) -> str:
    """Each data container has an Azure ML datastore of the same name (infra/app/ml-datastores.bicep)."""
    return f"azureml://datastores/{container}/paths/{path.strip('/')}"


class AzureMLTraining:
    def __init__(self, ml_client: Any, settings: Settings) -> None:
        self.ml_client = ml_client
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureMLTraining:
        return cls(ml_client(settings), settings)

    def build_job(self, request: TrainingRequest) -> Command:
        """The job, built with the SDK's `command()` builder: in azure-ai-ml 1.35 `jobs.create_or_update` refuses
        a bare `CommandJob` entity ("Non supported job type")."""
        s = self.settings
        nodes, gpus = s.aml_instance_count, s.aml_gpus_per_node
        strategy = "multi_worker_mirrored" if nodes > 1 else "mirrored" if gpus > 1 else "default"
        folder, _, index = request.manifest_blob.rpartition("/")
        args = [
            "python", "-m", "trainer_image.train",
            "--manifest", "${{inputs.manifests}}/" + index,
            "--base-model", "${{inputs.base_model}}",
            "--model-dir", "${{outputs.model}}",
            "--checkpoint-url", f"{s.checkpoints_container}/{request.output_prefix}",
            "--num-steps", str(request.num_steps),
            "--batch-size", str(request.batch_size),
            "--strategy", strategy,
            *export_arguments(s),
        ]
        inputs = {
            # the project's manifest folder: the index and the JSON Lines shards beside it
            "manifests": Input(type="uri_folder", mode="ro_mount",
                               path=datastore_uri(request.manifest_container, folder)),
            "base_model": Input(type="uri_folder", mode="ro_mount",
                                path=datastore_uri(s.models_container, request.base_model)),
        }
        if request.champion_model:
            args += ["--champion", "${{inputs.champion}}"] + ([] if request.label_map_changed else ["--warm-start"])
            inputs["champion"] = Input(type="uri_folder", mode="ro_mount", path=datastore_uri(
                s.models_container, request.champion_model))
        if request.tfrecord_cache:  # reused shards read in place from the mount; new ones still go to Blob
            args += ["--tfrecord-cache-dir", "${{inputs.tfrecord_cache}}", "--tfrecord-cache-mounted"]
            inputs["tfrecord_cache"] = Input(type="uri_folder", mode="ro_mount", path=datastore_uri(
                s.checkpoints_container, request.tfrecord_cache))
        env = {"DataStorage__blobServiceUri": s.blob_service_uri or "", "TF_CPP_MIN_LOG_LEVEL": "1"}
        if s.compute_identity_client_id:
            env["DataStorage__clientId"] = s.compute_identity_client_id
        return command(
            name=request.job_name,
            display_name=f"{request.project} {request.dataset_version}",
            experiment_name=azure_name(f"tfod-{request.project}", EXPERIMENT),
            description=f"Retraining of {request.project} on dataset {request.dataset_version} "
                        f"(batch {request.batch_id})",
            command=" ".join(a if a.startswith("${{") else shlex.quote(a) for a in args),
            environment=s.aml_environment,
            compute=s.aml_compute,
            inputs=inputs,
            outputs={"model": Output(type="uri_folder", mode="rw_mount", path=datastore_uri(
                s.models_container, model_folder(request.project, request.batch_id)))},
            environment_variables=env,
            tags=request.all_tags(),
            instance_count=nodes,
            distribution=TensorFlowDistribution(worker_count=nodes) if nodes > 1 else None,
        )

    def submit(self, request: TrainingRequest) -> SubmittedRun:
        """Look the job up by name first: a retried submission finds it instead of starting another."""
        try:
            existing = self.ml_client.jobs.get(request.job_name)
            return SubmittedRun(existing.name, existing.name, _status(existing), created=False)
        except ResourceNotFoundError:
            pass
        job = self.ml_client.jobs.create_or_update(self.build_job(request))
        return SubmittedRun(job.name, job.name, _status(job), created=True)

    def cancel(self, job_name: str) -> None:
        self.ml_client.jobs.begin_cancel(job_name)

    def status(self, job_name: str) -> JobState:
        """Asked when a run's completion event never came (jobs.get; a job Azure ML does not know is Lost)."""
        try:
            job = self.ml_client.jobs.get(job_name)
        except ResourceNotFoundError:
            return JobState("Lost", f"Azure ML has no job {job_name}")
        status = _status(job)
        reason = f"Azure ML reports the job {status}" if status in ("Failed", "Canceled") else ""
        return JobState(status, reason)


def _status(job: Any) -> str:
    """The job's status as Azure ML names it ("Queued"): the SDK's value is a str enum whose str() is the
    member's name ("JobStatus.QUEUED")."""
    return str(getattr(job.status, "value", job.status))
