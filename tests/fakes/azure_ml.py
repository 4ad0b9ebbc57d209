"""Azure Machine Learning's REST API (the ARM control plane of one workspace), as the real `MLClient` drives it.

Shapes follow the public REST specs (Microsoft.MachineLearningServices, 2023-04 … 2024-10) and the SDK's
recorded tests: resources carry `id`, `name`, `type`, `properties`, `systemData`; PUT of an online endpoint or
deployment answers 201 with `Azure-AsyncOperation` and the resource then moves through its provisioning states;
DELETE and job cancel answer 202 with `Location`; assets that do not exist answer 404 with an ARM error body.

It also plays the part of Azure itself where the SDK only hands over a request: a job runs as the cluster's
identity and a deployment as the endpoint's identity, and each fails (as Azure's do) when the role grants from
infra/app/rbac.bicep do not let that identity read its code, data and image.
"""

from __future__ import annotations

import copy
import itertools
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.azure_blob import BlobService
from tests.fakes.http import Request, Response, error
from tests.infra_model import Grants

ARM = "https://management.azure.com"
NAME_RULES = {"jobs": r"[a-zA-Z0-9][a-zA-Z0-9_-]{0,254}", "assets": r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}",
              "onlineEndpoints": r"[a-z][a-z0-9-]{1,30}[a-z0-9]"}
"""The name rules the service enforces (REST API specs and Azure ML's naming docs)."""
PROVIDER = "Microsoft.MachineLearningServices"


@dataclass
class Operation:
    """A long-running operation: `polls` status reads (of it or of its resource) before it ends."""

    resource: str
    final: str = "Succeeded"
    polls: int = 2
    reason: str = ""


@dataclass
class Workspace:
    subscription: str = "00000000-0000-0000-0000-000000000001"
    resource_group: str = "rg-tfod"
    name: str = "mlw-token1"
    location: str = "westeurope"
    storage_account: str = "stmltoken1"
    data_account: str = "stdatatoken1"
    registry: str = "crtoken1"
    identities: dict[str, str] = field(default_factory=dict)
    """Resource id of each user-assigned identity → its name in the permission model (compute, endpoint)."""

    @property
    def id(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/{PROVIDER}"
                f"/workspaces/{self.name}")

    def identity_id(self, name: str) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.ManagedIdentity/userAssignedIdentities/id-{name}")


class AzureMLService:
    """One workspace: environments, computes, datastores, code, data and model assets, jobs, online endpoints."""

    def __init__(self, grants: Grants, blobs: BlobService, workspace: Workspace | None = None) -> None:
        self.grants, self.blobs = grants, blobs
        self.ws = workspace or Workspace()
        self.ws.identities = {self.ws.identity_id("train"): "compute", self.ws.identity_id("serve"): "endpoint"}
        self.resources: dict[str, dict[str, Any]] = {}
        self.operations: dict[str, Operation] = {}
        self.keys: dict[str, dict[str, str]] = {}
        self._clock = itertools.count(1)
        self._ids = itertools.count(1)
        self.calls: list[tuple[str, str]] = []
        self.missing_container_is_404: set[str] = set()
        """Asset kinds ("models") whose version list answers 404 before the first version, instead of an empty
        list: the spec's `default` error response; which one the service sends is not recorded, so both are tried."""
        self.scored: list[tuple[str, str, bytes]] = []

    # ---- what exists before the service's code runs (Bicep, postprovision) ----
    def add_environment(self, name: str, version: str, image: str) -> None:
        self._put_resource(f"environments/{name}", {"properties": {"description": name}})
        self._put_resource(f"environments/{name}/versions/{version}", {"properties": {
            "image": image, "osType": "Linux", "environmentType": "UserCreated", "isAnonymous": False}})

    def add_compute(self, name: str, identity: str) -> None:
        self._put_resource(f"computes/{name}", {
            "location": self.ws.location,
            "identity": {"type": "UserAssigned", "userAssignedIdentities": {
                self.ws.identity_id(identity): {"principalId": str(uuid.uuid4()), "clientId": str(uuid.uuid4())}}},
            "properties": {"computeType": "AmlCompute", "provisioningState": "Succeeded",
                           "properties": {"vmSize": "Standard_NC4as_T4_v3", "scaleSettings": {
                               "minNodeCount": 0, "maxNodeCount": 1}}}})

    def add_kubernetes_compute(self, name: str, instance_types: tuple[str, ...] = ("defaultinstancetype",)) -> None:
        """An AKS cluster attached to the workspace (Azure ML's Kubernetes extension), with its instance types."""
        self._put_resource(f"computes/{name}", {"location": self.ws.location, "properties": {
            "computeType": "Kubernetes", "provisioningState": "Succeeded",
            "properties": {"defaultInstanceType": instance_types[0], "namespace": "default",
                           "instanceTypes": {t: {"resources": {"requests": {"cpu": "1", "memory": "4Gi"}}}
                                             for t in instance_types}}}})

    def add_datastore(self, name: str, account: str, container: str, *, default: bool = False) -> None:
        self._put_resource(f"datastores/{name}", {"properties": {
            "datastoreType": "AzureBlob", "accountName": account, "containerName": container,
            "endpoint": "core.windows.net", "protocol": "https", "isDefault": default,
            "credentials": {"credentialsType": "None"},
            "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity"}})

    def provisioned_by_bicep(self) -> AzureMLService:
        """The workspace as infra/ (ml-workspace.bicep) and the postprovision hook leave it."""
        self.add_environment("tfod-trainer-gpu", "1", f"{self.ws.registry}.azurecr.io/tfod-trainer:gpu")
        self.add_environment("tfod-serving-cpu", "1", f"{self.ws.registry}.azurecr.io/tfod-trainer:cpu")
        self.add_environment("tfod-serving-onnx", "1", f"{self.ws.registry}.azurecr.io/tfod-serving:onnx")
        self.add_compute("gpu-cluster", "train")
        self.add_datastore("workspaceblobstore", self.ws.storage_account,
                           "azureml-blobstore-00000000-0000-0000-0000-000000000000", default=True)
        self.add_datastore("manifests", self.ws.data_account, "manifests")
        self.add_datastore("models", self.ws.data_account, "models")
        self.add_datastore("checkpoints", self.ws.data_account, "checkpoints")
        self.add_datastore("inferencedata", self.ws.data_account, "inference-data")
        return self

    # ---- test controls ----
    def settle(self) -> None:
        """Time passes: every long-running operation ends (as the release timer's next ticks would see)."""
        for op_id in list(self.operations):
            self._finish(op_id)

    def job(self, name: str) -> dict[str, Any]:
        return self.resources[f"jobs/{name}"]

    def finish_job(self, name: str, status: str = "Completed") -> None:
        self.job(name)["properties"]["status"] = status

    def get(self, path: str) -> dict[str, Any] | None:
        return self.resources.get(path)

    # ---- the REST API ----
    def handle(self, request: Request) -> Response:
        prefix = self.ws.id
        if request.path.rstrip("/") == prefix:
            return Response(200, self._workspace())
        if not request.path.startswith(prefix + "/"):
            return error(404, "ResourceNotFound", f"{request.path} is not in workspace {self.ws.name}")
        if "Data Scientist" not in " ".join(self.grants.roles_of(request.identity or "", "workspace")):
            return error(403, "AuthorizationFailed",
                         f"The client '{request.identity}' does not have authorization to perform action "
                         f"'{PROVIDER}/workspaces/*' over scope '{self.ws.id}'.")
        path = request.path[len(prefix) + 1:]
        self.calls.append((request.method, path))
        for pattern, method, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and request.method == method:
                return handler(request, *match.groups())
        return error(404, "NotFound", f"no stand-in route for {request.method} {path}")

    def _routes(self) -> list[tuple[str, str, Any]]:
        name = r"([^/]+)"
        return [
            (r"operationResults/([^/]+)", "GET", self._operation_status),
            (r"operationLocations/([^/]+)", "GET", self._operation_location),
            (rf"environments/{name}/versions", "GET", self._list_versions),
            (rf"models/{name}/versions", "GET", self._list_versions),
            (rf"data/{name}/versions", "GET", self._list_versions),
            (rf"codes/{name}/versions", "GET", self._list_versions),
            (r"datastores", "GET", self._list_datastores),
            (rf"onlineEndpoints/{name}/listKeys", "POST", self._list_keys),
            (rf"onlineEndpoints/{name}/deployments/{name}/getLogs", "POST", self._get_logs),
            (rf"jobs/{name}/cancel", "POST", self._cancel_job),
            (rf"codes/{name}/versions/{name}/startPendingUpload", "POST", self._start_pending_upload),
            (rf"jobs/{name}", "PUT", self._put_job),
            (rf"onlineEndpoints/{name}", "PUT", self._put_endpoint),
            (rf"onlineEndpoints/{name}/deployments/{name}", "PUT", self._put_deployment),
            (rf"onlineEndpoints/{name}", "DELETE", self._delete_lro),
            (rf"onlineEndpoints/{name}/deployments/{name}", "DELETE", self._delete_lro),
            (r"(.+)", "PUT", self._put_asset),
            (r"(.+)", "GET", self._get),
        ]

    # ---- generic resources ----
    def _resource_type(self, path: str) -> str:
        kinds = path.split("/")[0::2]
        return "/".join([f"{PROVIDER}/workspaces", *kinds])

    def _put_resource(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        now = f"2026-11-25T10:{next(self._clock) % 60:02d}:00.000000+00:00"
        existing = self.resources.get(path)
        resource = copy.deepcopy(body)
        resource.update({"id": f"{self.ws.id}/{path}", "name": path.split("/")[-1],
                         "type": self._resource_type(path)})
        resource.setdefault("properties", {})
        resource["systemData"] = (existing or {}).get("systemData", {
            "createdAt": now, "createdBy": "fake", "createdByType": "Application"}) | {"lastModifiedAt": now}
        self.resources[path] = resource
        return resource

    def _get(self, request: Request, path: str) -> Response:
        if path.count("/") % 2 == 0:  # a collection: onlineEndpoints, onlineEndpoints/<e>/deployments, …
            depth = path.count("/") + 2
            return Response(200, {"value": [r for p, r in self.resources.items()
                                            if p.startswith(path + "/") and p.count("/") + 1 == depth]})
        self._poll_resource(path)
        resource = self.resources.get(path)
        if resource is None:
            kind = path.split("/")[0].rstrip("s")
            return error(404, "UserError" if kind in ("environment", "model", "data", "code") else "NotFound",
                         f"{kind.capitalize()} {path.split('/')[1] if '/' in path else path} does not exist: "
                         f"{path}")
        return Response(200, resource)

    def _put_asset(self, request: Request, path: str) -> Response:
        kind = path.split("/")[0]
        if kind not in ("codes", "models", "data", "environments", "components"):
            return error(404, "NotFound", f"no stand-in route for PUT {path}")
        created = path not in self.resources
        body = request.json()
        if not re.fullmatch(NAME_RULES["assets"], path.split("/")[1]):
            return error(400, "UserError", f"Invalid asset name {path.split('/')[1]!r}")
        if not created and body["properties"].get("modelUri", "") != self.resources[path]["properties"].get(
                "modelUri", ""):
            return error(409, "Conflict", f"{path} exists: only its tags and description can change")
        if kind == "models" and "/versions/" in path and created:
            code, problem = self._check_model_path(body["properties"].get("modelUri", ""))
            if problem:
                return error(400, code, problem)
        if "/versions/" in path:  # what the service fills in on every asset version it returns
            body["properties"] = {"tags": {}, "properties": {}, "isArchived": False, "isAnonymous": False} | (
                {"flavors": {}} if kind == "models" else {}) | body["properties"]
        resource = self._put_resource(path, body)
        if "/versions/" in path:
            container = path.rsplit("/versions/", 1)[0]
            if container not in self.resources:
                self._put_resource(container, {"properties": {}})
            self.resources[container]["properties"]["latestVersion"] = path.rsplit("/", 1)[1]
            self.resources[container]["properties"]["nextVersion"] = str(_next_version(path.rsplit("/", 1)[1]))
        return Response(201 if created else 200, resource)

    def _list_versions(self, request: Request, name: str) -> Response:
        kind = request.path.split("/")[-3]
        prefix = f"{kind}/{name}/versions/"
        versions = [r for p, r in self.resources.items() if p.startswith(prefix) and p.count("/") == 3]
        if not versions and kind in self.missing_container_is_404:
            return error(404, "UserError", f"Could not find {kind[:-1]} container with name {name}")
        if request.query.get("$orderBy", request.query.get("$orderby", "")).startswith("createdtime desc"):
            versions.sort(key=lambda r: r["systemData"]["createdAt"], reverse=True)
        if "$top" in request.query:
            versions = versions[: int(request.query["$top"])]
        tags = request.query.get("tags")
        if tags:
            wanted = dict(t.split("=", 1) for t in tags.split(","))
            versions = [v for v in versions if all(v["properties"].get("tags", {}).get(k) == x
                                                   for k, x in wanted.items())]
        return Response(200, {"value": versions})

    def _start_pending_upload(self, request: Request, name: str, version: str) -> Response:
        """With `systemDatastoresAuthMode: identity` (shared keys off) the service hands out no SAS: the client
        uploads to the default datastore with its own Entra ID token, so it needs a blob data role there. (The
        blob URI is the account's root, the form under which the SDK's own urljoin names the uploaded folder.)"""
        store = next(r for p, r in self.resources.items()
                     if p.startswith("datastores/") and r["properties"].get("isDefault"))["properties"]
        return Response(200, {"pendingUploadId": str(uuid.uuid4()), "pendingUploadType": "TemporaryBlobReference",
                              "blobReferenceForConsumption": {
                                  "blobUri": f"https://{store['accountName']}.blob.core.windows.net/",
                                  "credential": {"credentialType": "SAS", "sasUri": None}}})

    def _list_datastores(self, request: Request) -> Response:
        stores = [r for p, r in self.resources.items() if p.startswith("datastores/")]
        if request.query.get("isDefault") == "true":
            stores = [s for s in stores if s["properties"].get("isDefault")]
        return Response(200, {"value": stores})

    def _workspace(self) -> dict[str, Any]:
        return {"id": self.ws.id, "name": self.ws.name, "location": self.ws.location,
                "type": f"{PROVIDER}/workspaces", "identity": {"type": "SystemAssigned"},
                "properties": {
                    "storageAccount": f"/subscriptions/{self.ws.subscription}/resourceGroups/"
                                      f"{self.ws.resource_group}/providers/Microsoft.Storage/storageAccounts/"
                                      f"{self.ws.storage_account}",
                    "discoveryUrl": f"https://{self.ws.location}.api.azureml.ms/discovery",
                    "mlFlowTrackingUri": f"azureml://{self.ws.location}.api.azureml.ms/mlflow/v1.0{self.ws.id}",
                    "workspaceId": "00000000-0000-0000-0000-0000000000aa",
                    "systemDatastoresAuthMode": "Identity", "provisioningState": "Succeeded"}}

    # ---- jobs ----
    def _put_job(self, request: Request, name: str) -> Response:
        path = f"jobs/{name}"
        experiment = request.json()["properties"].get("experimentName", "")
        for what, value in (("job name", name), ("experimentName", experiment)):
            if not re.fullmatch(NAME_RULES["jobs"], value):
                return error(400, "UserError", f"Invalid {what} {value!r}: use letters, digits, '-' and '_', "
                                               "starting with a letter or digit, at most 255 characters")
        if path in self.resources:
            return error(400, "UserError", f"A job with this name already exists: {name}")
        body = request.json()
        properties = body["properties"]
        for field_name, kind in (("environmentId", "environments"), ("computeId", "computes")):
            target = properties.get(field_name, "")
            local = target.split(f"/workspaces/{self.ws.name}/", 1)[-1]
            if not target.startswith("/subscriptions/") or local not in self.resources:
                return error(404, "UserError", f"{field_name} {target!r} does not resolve to an existing "
                                               f"{kind[:-1]} of this workspace")
        properties = properties | {"status": "Queued", "services": {"Studio": {
            "endpoint": f"https://ml.azure.com/runs/{name}?wsid={self.ws.id}"}}}
        problem = self._job_access_problem(properties)
        if problem:
            properties["status"] = "Failed"
            properties["error"] = problem
        resource = self._put_resource(path, body | {"properties": properties})
        return Response(201, resource)

    def _job_access_problem(self, properties: dict[str, Any]) -> str:
        """Azure runs the job as the cluster's identity: snapshot and logs on the workspace storage, the image
        from the registry, inputs and outputs on their datastores."""
        compute = self.resources[properties["computeId"].split(f"/workspaces/{self.ws.name}/", 1)[1]]
        (identity_id,) = compute["identity"]["userAssignedIdentities"]
        identity = self.ws.identities[identity_id]
        needs = [("mlStorage", "write", "job snapshot, logs and outputs"), ("registry", "pull", "trainer image")]
        for key, value in (properties.get("inputs") or {}).items():
            needs += self._datastore_needs(value.get("uri", ""), "read", f"input {key}")
        for key, value in (properties.get("outputs") or {}).items():
            needs += self._datastore_needs(value.get("uri", ""), "write", f"output {key}")
        if (properties.get("environmentVariables") or {}).get("DataStorage__blobServiceUri"):
            # the trainer reads the manifest's blobs and mirrors checkpoints itself, as the cluster's identity
            needs += [("data/datasets", "read", "the dataset's images"),
                      ("data/checkpoints", "write", "checkpoints and the TFRecord cache")]
        return self._access_problem(identity, needs)

    def _datastore_needs(self, uri: str, access: str, what: str) -> list[tuple[str, str, str]]:
        match = re.match(r"azureml://datastores/([^/]+)/paths/", uri)
        if not match:
            return []
        store = self.resources.get(f"datastores/{match.group(1)}")
        if store is None:
            return [("missing", access, f"{what}: datastore {match.group(1)} does not exist")]
        p = store["properties"]
        scope = "data" if p["accountName"] == self.ws.data_account else "mlStorage"
        return [(f"{scope}/{p['containerName']}" if scope == "data" else scope, access, what)]

    def _access_problem(self, identity: str, needs: list[tuple[str, str, str]]) -> str:
        for scope, access, what in needs:
            if scope == "missing":
                return what
            if access == "pull":
                roles = self.grants.roles_of(identity, scope)
                if "AcrPull" not in roles:
                    return f"{identity} identity cannot pull the {what} from {self.ws.registry} (no AcrPull)"
                continue
            account = scope.split("/")[0]
            container = scope.split("/", 1)[1] if "/" in scope else ""
            name = self.ws.data_account if account == "data" else self.ws.storage_account
            if not self.blobs.can(identity, name, container, write=access == "write"):
                return (f"AuthorizationPermissionMismatch: the {identity} identity may not {access} {what} "
                        f"on {name}/{container}".rstrip("/"))
        return ""

    def _cancel_job(self, request: Request, name: str) -> Response:
        job = self.resources.get(f"jobs/{name}")
        if job is None:
            return error(404, "UserError", f"Job {name} does not exist")
        job["properties"]["status"] = "CancelRequested"
        op = self._operation(f"jobs/{name}", "Succeeded")
        return Response(202, None, {"Location": self._operation_url(op, "operationLocations")})

    # ---- models ----
    def _check_model_path(self, uri: str) -> tuple[str, str]:
        """(error code, message) for a job-output model URI the service refuses; ("", "") when it takes it.
        A missing output answers as the service did in a user's log: `(NoMatchingOutputFoundFromJob) Job output
        default not found`."""
        match = re.match(r"azureml://jobs/([^/]+)/outputs/([^/]+)(/paths/.*)?$", uri)
        if match:
            job = self.resources.get(f"jobs/{match.group(1)}")
            if job is None:
                return "UserError", f"Job {match.group(1)} does not exist"
            if match.group(2) not in (job["properties"].get("outputs") or {}):
                return "NoMatchingOutputFoundFromJob", f"Job output {match.group(2)} not found"
            if job["properties"]["status"] != "Completed":
                return "UserError", f"Job {match.group(1)} is {job['properties']['status']}: only outputs of " \
                                    "completed jobs can be registered"
        return "", ""

    # ---- online endpoints ----
    def _put_endpoint(self, request: Request, name: str) -> Response:
        if not re.fullmatch(NAME_RULES["onlineEndpoints"], name):
            return error(400, "BadArgument", f"Invalid endpoint name {name!r}: 3 to 32 characters, lowercase "
                                             "letters, digits and '-', starting with a letter")
        body = request.json()
        path = f"onlineEndpoints/{name}"
        for identity_id in (body.get("identity") or {}).get("userAssignedIdentities") or {}:
            identity = self.ws.identities.get(identity_id, identity_id)
            if "Managed Identity Operator" not in self.grants.roles_of(request.identity or "", f"{identity}Identity"):
                return error(403, "LinkedAuthorizationFailed",
                             f"The client '{request.identity}' has permission to perform action "
                             f"'{PROVIDER}/workspaces/onlineEndpoints/write'; however, it does not have permission "
                             f"to perform action 'Microsoft.ManagedIdentity/userAssignedIdentities/assign/action' "
                             f"on the linked scope(s) '{identity_id}'.")
        existing = self.resources.get(path)
        compute = body["properties"].get("compute")
        if compute:
            target = self.resources.get(compute.split(f"/workspaces/{self.ws.name}/", 1)[-1]) or self.resources.get(
                f"computes/{compute}")
            if target is None or target["properties"]["computeType"] != "Kubernetes":
                return error(400, "BadArgument", f"compute {compute!r} is not a Kubernetes compute of this workspace")
        properties = body["properties"] | {
            "provisioningState": "Updating" if existing else "Creating",
            "scoringUri": f"https://{name}.{self.ws.location}.inference.ml.azure.com/score",
            "swaggerUri": f"https://{name}.{self.ws.location}.inference.ml.azure.com/swagger.json"}
        if existing:
            missing = set(properties.get("traffic") or {}) - self._deployments_of(name)
            if missing:
                return error(400, "BadRequest", f"Traffic given to deployments that do not exist: {sorted(missing)}")
        if problem := self._mirror_problem(name, properties):
            return error(400, "BadRequest", problem)
        resource = self._put_resource(path, body | {"properties": properties, "location": self.ws.location})
        self.keys.setdefault(name, {"primaryKey": uuid.uuid4().hex, "secondaryKey": uuid.uuid4().hex})
        op = self._operation(path, "Succeeded")
        return Response(201 if not existing else 200, resource,
                        {"Azure-AsyncOperation": self._operation_url(op, "operationResults")})

    def _mirror_problem(self, endpoint: str, properties: dict[str, Any]) -> str:
        """The REST spec's rule (mirror shares sum to at most 50) and the safe-rollout article's (a deployment takes
        live or mirrored traffic, not both; only existing deployments)."""
        mirror = {k: v for k, v in (properties.get("mirrorTraffic") or {}).items() if v}
        if sum(mirror.values()) > 50:
            return f"Mirror traffic values need to sum to utmost 50, got {sum(mirror.values())}"
        if missing := set(mirror) - self._deployments_of(endpoint):
            return f"Mirror traffic given to deployments that do not exist: {sorted(missing)}"
        if both := [d for d in mirror if (properties.get("traffic") or {}).get(d)]:
            return f"Deployments cannot receive both live and mirrored traffic: {both}"
        return ""

    def _deployments_of(self, endpoint: str) -> set[str]:
        prefix = f"onlineEndpoints/{endpoint}/deployments/"
        return {p[len(prefix):] for p in self.resources if p.startswith(prefix)}

    def _put_deployment(self, request: Request, endpoint: str, name: str) -> Response:
        ep = self.resources.get(f"onlineEndpoints/{endpoint}")
        if ep is None:
            return error(404, "NotFound", f"Endpoint {endpoint} does not exist")
        if ep["properties"]["provisioningState"] != "Succeeded":
            return error(409, "Conflict", f"Endpoint {endpoint} is {ep['properties']['provisioningState']}")
        body = request.json()
        properties = body["properties"]
        problem = self._deployment_problem(ep, properties)
        if problem.startswith("400:"):
            return error(400, "BadArgument", problem[4:])
        path = f"onlineEndpoints/{endpoint}/deployments/{name}"
        existing = path in self.resources
        defaults: dict[str, Any] = {"scaleSettings": {"scaleType": "Default"}, "egressPublicNetworkAccess": "Enabled"}
        if properties.get("endpointComputeType") == "Kubernetes":  # the instance type's requests and limits
            resources = {"cpu": "1", "memory": "4Gi"}
            defaults["containerResourceRequirements"] = {"containerResourceRequests": resources,
                                                         "containerResourceLimits": resources}
        resource = self._put_resource(path, body | {
            "location": self.ws.location,
            "properties": defaults | properties | {"provisioningState": "Updating" if existing else "Creating"}})
        op = self._operation(path, "Failed" if problem else "Succeeded", problem)
        return Response(200 if existing else 201, resource,
                        {"Azure-AsyncOperation": self._operation_url(op, "operationResults")})

    def _deployment_problem(self, endpoint: dict[str, Any], properties: dict[str, Any]) -> str:
        """What the service checks up front (400) and what fails while the container starts (Failed)."""
        for field_name in ("environmentId", "model"):
            ref = properties.get(field_name) or ""
            local = ref.split(f"/workspaces/{self.ws.name}/", 1)[-1]
            if not ref.startswith("/subscriptions/") or local not in self.resources:
                return f"400:{field_name} {ref!r} is not an existing asset of this workspace"
        code = properties.get("codeConfiguration", {}).get("codeId", "")
        code_asset = self.resources.get(code.split(f"/workspaces/{self.ws.name}/", 1)[-1])
        if code_asset is None:
            return f"400:codeId {code!r} is not an existing code asset of this workspace"
        if not self._blobs_exist(code_asset["properties"].get("codeUri", "")):
            return f"400:the code asset's files are not in storage: {code_asset['properties'].get('codeUri')}"
        if properties.get("endpointComputeType") == "Managed" and not str(
                properties.get("instanceType", "")).startswith("Standard_"):
            return f"400:instanceType {properties.get('instanceType')!r} is not a VM size"
        if properties.get("endpointComputeType") == "Kubernetes":
            compute = endpoint["properties"].get("compute", "")
            cluster = self.resources.get(compute.split(f"/workspaces/{self.ws.name}/", 1)[-1]) or self.resources[
                f"computes/{compute}"]
            types = cluster["properties"]["properties"]["instanceTypes"]
            if properties.get("instanceType") not in types:
                return f"400:instanceType {properties.get('instanceType')!r} is not defined on {compute} " \
                       f"(it has {sorted(types)})"
        identity_ids = list((endpoint.get("identity") or {}).get("userAssignedIdentities") or {})
        identity = self.ws.identities.get(identity_ids[0], "?") if identity_ids else "system"
        if identity == "system":
            return ""  # a system-assigned identity gets its roles from Azure ML itself
        model = self.resources[properties["model"].split(f"/workspaces/{self.ws.name}/", 1)[-1]]
        needs = [("mlStorage", "read", "the deployment's code (score.py)"), ("registry", "pull", "serving image")]
        needs += self._datastore_needs(model["properties"].get("modelUri", ""), "read", "the model's files")
        for collection in (properties.get("dataCollector") or {}).get("collections", {}).values():
            data_id = collection.get("dataId", "")
            data = self.resources.get(data_id.split(f"/workspaces/{self.ws.name}/", 1)[-1], {})
            needs += self._datastore_needs(data.get("properties", {}).get("dataUri", ""), "write",
                                           "the data collector's output")
        problem = self._access_problem(identity, needs)
        return f"Container could not start: {problem}" if problem else ""

    def _blobs_exist(self, uri: str) -> bool:
        match = re.match(r"https://([^.]+)\.blob\.core\.windows\.net/([^/]+)/(.*)", uri)
        if not match:
            return False
        account, container, prefix = match.groups()
        blobs = self.blobs.accounts.get(account, {}).get(container, {})
        return any(name.startswith(prefix.rstrip("/")) for name in blobs)

    def _list_keys(self, request: Request, name: str) -> Response:
        if name not in self.keys:
            return error(404, "NotFound", f"Endpoint {name} does not exist")
        return Response(200, self.keys[name])

    def _get_logs(self, request: Request, endpoint: str, name: str) -> Response:
        op = next((o for o in self.operations.values()
                   if o.resource == f"onlineEndpoints/{endpoint}/deployments/{name}"), None)
        reason = op.reason if op else ""
        return Response(200, {"content": f"Container logs of {endpoint}/{name}\n{reason}\n"})

    def _delete_lro(self, request: Request, *names: str) -> Response:
        path = "onlineEndpoints/" + "/deployments/".join(names)
        if path not in self.resources:
            return Response(204)
        self.resources[path]["properties"]["provisioningState"] = "Deleting"
        op = self._operation(path, "Deleted")
        return Response(202, None, {"Location": self._operation_url(op, "operationLocations")})

    # ---- the endpoints' scoring URIs (data plane) ----
    def score(self, request: Request) -> Response:
        """What Azure's endpoint front end does with a scoring call: key check, then the pinned deployment (or
        the traffic split); the container's answer follows score.py's contract, model name and version taken
        from the deployment's environment variables."""
        endpoint = request.host.split(".")[0]
        resource = self.resources.get(f"onlineEndpoints/{endpoint}")
        if resource is None:
            return error(404, "NotFound", f"no endpoint {endpoint}")
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.keys[endpoint].values():
            return Response(401, {"message": "Invalid key"}, {"www-authenticate": "Bearer"})
        slot = request.headers.get("azureml-model-deployment") or max(
            (resource["properties"].get("traffic") or {"": 0}).items(), key=lambda kv: kv[1])[0]
        deployment = self.resources.get(f"onlineEndpoints/{endpoint}/deployments/{slot}")
        if deployment is None or deployment["properties"]["provisioningState"] != "Succeeded":
            return Response(404, {"message": f"No deployment {slot!r} is ready on {endpoint}"})
        self.scored.append((endpoint, slot, request.body))
        env = deployment["properties"].get("environmentVariables") or {}
        return Response(200, {"model": {"name": env.get("MODEL_NAME"), "version": env.get("MODEL_VERSION")},
                              "detections": [], "latency_ms": 5.0, "request_id": str(uuid.uuid4())},
                        {"azureml-model-deployment": slot})

    # ---- long-running operations ----
    def _operation(self, resource: str, final: str, reason: str = "") -> str:
        op_id = f"op-{next(self._ids)}"
        for other in [k for k, o in self.operations.items() if o.resource == resource]:
            del self.operations[other]
        self.operations[op_id] = Operation(resource, final, reason=reason)
        return op_id

    def _operation_url(self, op_id: str, kind: str) -> str:
        """ARM's operation URLs. (Azure asks clients to wait `Retry-After` seconds between polls; the answers here
        say 0.01, so a test's minutes of provisioning pass in milliseconds.)"""
        return f"{ARM}{self.ws.id}/{kind}/{op_id}?api-version=2024-10-01"

    def _poll_resource(self, path: str) -> None:
        for op_id, op in list(self.operations.items()):
            if op.resource == path:
                op.polls -= 1
                if op.polls <= 0:
                    self._finish(op_id)

    def _finish(self, op_id: str) -> None:
        op = self.operations.pop(op_id, None)
        if op is None:
            return
        resource = self.resources.get(op.resource)
        if resource is None:
            return
        if op.final == "Deleted":
            del self.resources[op.resource]
            self.operations[op_id] = Operation(op.resource, "Deleted", polls=0)
        elif op.resource.startswith("jobs/"):
            resource["properties"]["status"] = "Canceled"
        else:
            resource["properties"]["provisioningState"] = op.final
            if op.final == "Failed":
                self.operations[op_id] = Operation(op.resource, "Failed", polls=0, reason=op.reason)

    def _operation_status(self, request: Request, op_id: str) -> Response:
        op = self.operations.get(op_id)
        if op is None:
            return error(404, "NotFound", f"operation {op_id}")
        if op.polls > 0:
            op.polls -= 1
            return Response(200, {"status": "InProgress"}, {"Retry-After": "0.01"})
        self._finish(op_id)
        body: dict[str, Any] = {"status": op.final if op.final != "Deleted" else "Succeeded"}
        if op.final == "Failed":
            body["error"] = {"code": "DeploymentFailed", "message": op.reason}
        return Response(200, body)

    def _operation_location(self, request: Request, op_id: str) -> Response:
        op = self.operations.get(op_id)
        if op is not None and op.polls > 0:
            op.polls -= 1
            return Response(202, None, {"Location": request.url, "Retry-After": "0.01"})
        self._finish(op_id)
        return Response(200, {})


def _next_version(version: str) -> int:
    return int(version) + 1 if version.isdigit() else 1
