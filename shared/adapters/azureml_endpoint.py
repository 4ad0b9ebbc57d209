"""OnlineEndpoints over Azure ML online endpoints (azure-ai-ml): managed, or Kubernetes (AKS) as an option.

Key auth, Application Insights and the data collector (model inputs and outputs) on every deployment; score.py is
uploaded from trainer_image/serving. Each call starts a long-running operation and returns: the release timer
checks on it at its next tick, so no function invocation waits minutes for Azure.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from azure.ai.ml.entities import (
    CodeConfiguration,
    DataCollector,
    DeploymentCollection,
    IdentityConfiguration,
    KubernetesOnlineDeployment,
    KubernetesOnlineEndpoint,
    ManagedIdentityConfiguration,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    OnlineRequestSettings,
    ProbeSettings,
)
from azure.ai.ml.entities._deployment.data_asset import DataAsset
from azure.ai.ml.exceptions import MlException
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from shared.adapters.scoring import score_on_slot
from shared.clock import iso
from shared.pipeline.labelling import CollectedData
from shared.ports import BlobStore, DeploymentSpec
from shared.release_watch import Answer, answers_of
from shared.serving import endpoint_name, scoring_environment
from shared.settings import Settings

SERVING_CODE = Path(__file__).resolve().parents[2] / "trainer_image" / "serving"
INFERENCE_DATASTORE = "inferencedata"
BUSY = {"creating", "updating", "scaling", "deleting"}
REFUSED = {400, 401, 403, 404}
"""Answers that a retry cannot change (bad request, missing role, missing asset): the release fails with them."""


def sdk_message(exc: MlException) -> str:
    """The reason in an azure-ai-ml error, without its terminal colours and boilerplate ("(x) …" lines)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc.message))
    details = [line.removeprefix("(x)").strip() for line in text.splitlines() if line.strip().startswith("(x)")]
    return "; ".join(details) or " ".join(text.split())


class AzureMLEndpoints:
    def __init__(self, ml_client: Any, settings: Settings, *, blobs: BlobStore | None = None,
                 scoring_transport: Any = None) -> None:
        """`blobs`: the data storage the collector writes to (read by `answers`); `scoring_transport`: the
        azure-core transport of the scoring call (tests stand in for Azure with it)."""
        self.ml_client, self.settings, self.scoring_transport = ml_client, settings, scoring_transport
        self.blobs = blobs

    @property
    def kubernetes(self) -> bool:
        return self.settings.endpoint_kind == "kubernetes"

    def build_endpoint(self, project: str) -> ManagedOnlineEndpoint | KubernetesOnlineEndpoint:
        identity = IdentityConfiguration(type="user_assigned", user_assigned_identities=[
            ManagedIdentityConfiguration(resource_id=self.settings.endpoint_identity_id)]) \
            if self.settings.endpoint_identity_id else None
        common = {"name": endpoint_name(self.settings, project), "auth_mode": "key", "identity": identity,
                  "description": f"Object detection for project {project} (blue/green, managed by the service)",
                  "tags": {"project": project, "managed_by": "tfod-retraining"}}
        if self.kubernetes:
            return KubernetesOnlineEndpoint(compute=self.settings.kubernetes_compute, **common)
        return ManagedOnlineEndpoint(**common)

    def build_deployment(self, spec: DeploymentSpec,
                         slot: str) -> ManagedOnlineDeployment | KubernetesOnlineDeployment:
        endpoint = endpoint_name(self.settings, spec.project)
        collections = {
            name: DeploymentCollection(enabled="true", client_id=self.settings.endpoint_identity_client_id,
                                       data=DataAsset(
                name=f"{endpoint}-{slot}-{name.replace('_', '-')}",
                path=f"azureml://datastores/{INFERENCE_DATASTORE}/paths/{endpoint}/{slot}/{name}"))
            for name in ("model_inputs", "model_outputs")}
        serving = scoring_environment(self.settings, spec.runtime)
        common = {
            "name": slot, "endpoint_name": endpoint, "model": f"azureml:{spec.model_name}:{spec.model_version}",
            "code_configuration": CodeConfiguration(code=str(SERVING_CODE), scoring_script="score.py"),
            # ONNX Runtime without TensorFlow (a slimmer image, a faster start) when the model will be served by it
            "environment": self.settings.serving_onnx_environment if spec.runtime == "onnx"
            else self.settings.serving_environment,
            "instance_type": self.settings.deployment_instance_type,
            "instance_count": self.settings.serving_instance_count,
            "app_insights_enabled": False,  # the server's exporter sends with the key only: score.py sends instead
            "data_collector": DataCollector(collections=collections, sampling_rate=1.0),
            "environment_variables": {"MODEL_NAME": spec.model_name, "MODEL_VERSION": spec.model_version,
                                      "DEPLOYMENT_NAME": slot,
                                      "GUNICORN_CMD_ARGS": f"--threads {self.settings.serving_threads}",
                                      **serving, **self._telemetry(endpoint)},
            "request_settings": OnlineRequestSettings(  # every worker's threads take a request at once
                request_timeout_ms=10_000,
                max_concurrent_requests_per_instance=self.settings.serving_threads * int(serving["WORKER_COUNT"])),
            "readiness_probe": ProbeSettings(initial_delay=10, period=10, failure_threshold=30),
            "tags": {"project": spec.project, "model_version": spec.model_version},
        }
        return KubernetesOnlineDeployment(**common) if self.kubernetes else ManagedOnlineDeployment(**common)

    def _telemetry(self, endpoint: str) -> dict[str, str]:
        """Where score.py sends its lines (trainer_image/serving/telemetry.py) and as whom: the endpoint identity,
        the one Application Insights grants Monitoring Metrics Publisher."""
        if not self.settings.endpoint_telemetry_connection_string:
            return {}
        client = self.settings.endpoint_identity_client_id
        return {"APPLICATIONINSIGHTS_CONNECTION_STRING": self.settings.endpoint_telemetry_connection_string,
                "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD" + (f";ClientId={client}" if client
                                                                                    else ""),
                "ENDPOINT_NAME": endpoint}

    def provision(self, spec: DeploymentSpec, slot: str) -> str:
        try:
            return self._provision(spec, slot)
        except HttpResponseError as exc:
            if exc.status_code in REFUSED:
                return f"failed: Azure ML refused the deployment ({exc.status_code}): {exc.message}"[:1500]
            raise
        except MlException as exc:  # the SDK's own checks (names, files, storage permissions) before any request
            return f"failed: Azure ML refused the deployment: {sdk_message(exc)}"[:1500]

    def _provision(self, spec: DeploymentSpec, slot: str) -> str:
        name = endpoint_name(self.settings, spec.project)
        try:
            endpoint = self.ml_client.online_endpoints.get(name=name)
        except ResourceNotFoundError:
            self.ml_client.online_endpoints.begin_create_or_update(self.build_endpoint(spec.project))
            return "provisioning"
        state = (endpoint.provisioning_state or "").lower()
        if state == "failed":
            return f"failed: endpoint {name} could not be created"
        if state in BUSY:
            return "provisioning"
        try:
            deployment = self.ml_client.online_deployments.get(name=slot, endpoint_name=name)
        except ResourceNotFoundError:
            deployment = None
        if deployment is None or (deployment.tags or {}).get("model_version") != spec.model_version:
            self.ml_client.online_deployments.begin_create_or_update(self.build_deployment(spec, slot))
            return "provisioning"
        state = (deployment.provisioning_state or "").lower()
        if state == "succeeded":
            return "ready"
        if state in ("failed", "canceled"):
            logs = self.ml_client.online_deployments.get_logs(name=slot, endpoint_name=name, lines=20)
            return f"failed: deployment {slot} {state}: {logs[-800:]}"
        return "provisioning"

    def invoke(self, project: str, slot: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        """Raw bytes need a plain HTTPS call (the SDK's invoke sends JSON files only)."""
        name = endpoint_name(self.settings, project)
        uri = self.ml_client.online_endpoints.get(name=name).scoring_uri
        key = self.ml_client.online_endpoints.get_keys(name=name).primary_key
        return score_on_slot(uri, key, slot, body, content_type, transport=self.scoring_transport)

    def route(self, project: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
        """Traffic split and mirrored share in one PUT of the endpoint (the SDK leaves out zero shares: an empty
        mirror stops mirroring)."""
        endpoint = self.ml_client.online_endpoints.get(name=endpoint_name(self.settings, project))
        endpoint.traffic, endpoint.mirror_traffic = dict(traffic), dict(mirror or {})
        self.ml_client.online_endpoints.begin_create_or_update(endpoint).result()

    def answers(self, project: str, slot: str, since: datetime) -> list[Answer]:
        """What the slot's data collector stored since `since` (score.py logs each answer, failures included)."""
        if self.blobs is None:
            raise RuntimeError("AzureMLEndpoints needs the data storage to read what a slot answered")
        rows = CollectedData(self.blobs, self.settings).read(endpoint_name(self.settings, project), since,
                                                             datetime.now(UTC), after=iso(since), slots=(slot,))
        return list(answers_of(rows))

    def remove(self, project: str, slot: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.ml_client.online_deployments.begin_delete(name=slot,
                                                           endpoint_name=endpoint_name(self.settings, project))

    def describe(self, project: str) -> dict[str, Any]:
        try:
            endpoint = self.ml_client.online_endpoints.get(name=endpoint_name(self.settings, project))
        except ResourceNotFoundError:
            return {}
        return {"name": endpoint.name, "scoring_uri": endpoint.scoring_uri, "auth_mode": endpoint.auth_mode,
                "traffic": dict(endpoint.traffic or {}), "provisioning_state": endpoint.provisioning_state}

