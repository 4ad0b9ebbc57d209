"""Infrastructure validated offline: every Bicep file parses, checkov passes, and the Bicep agrees with the code
(app settings both ways, Event Grid filters, containers)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from pycep import BicepParser

from shared.ledger import suffix_filters
from shared.settings import Settings, documented_settings

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
CHECKOV = ROOT / ".venv-tools" / "bin" / "checkov"

# Read by the Functions host rather than by the code; declared in function.bicep's `hostSettings`.
HOST_SETTINGS = {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential",
                 "AzureWebJobsStorage__clientId", "APPLICATIONINSIGHTS_CONNECTION_STRING",
                 "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", "PYTHON_SCRIPT_FILE_NAME",
                 "MICROSOFT_PROVIDER_AUTHENTICATION_SECRET"}
# Read by the code in local mode only: Azure uses identity-based connections and the Azure ML backend.
LOCAL_ONLY = {"DataStorage", "LOCAL_TRAINER_COMMAND", "LOCAL_ENDPOINT_PORT", "LOCAL_ENDPOINT_KEY"}
# Set by the platform on every function app, never declared.
PLATFORM = {"WEBSITE_HOSTNAME", "WEBSITE_AUTH_ENABLED"}


def object_keys(text: str, var: str) -> dict[str, str]:
    """Keys and raw values of a `var NAME = { … }` (or `union({ … }, …)`) object literal in a Bicep file."""
    block = re.search(rf"var {var} = (?:union\()?\{{\n(.*?)\n\}}", text, re.S)
    assert block, f"no `var {var}` object"
    return dict(re.findall(r"^  (\w+): (.+)$", block.group(1), re.M))


def string_list(text: str, var: str) -> list[str]:
    block = re.search(rf"var {var} = \[\n(.*?)\n\]", text, re.S)
    assert block, f"no `var {var}` list"
    return re.findall(r"'([^']*)'", block.group(1))


@pytest.mark.parametrize("path", sorted(INFRA.rglob("*.bicep")), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses(path):
    BicepParser().parse(file_path=path)


def test_a_broken_bicep_file_does_not_parse(tmp_path):
    broken = tmp_path / "broken.bicep"
    broken.write_text("param x string\nresource a 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n")
    with pytest.raises(Exception):  # noqa: B017 - any parse error will do: this guards the test above
        BicepParser().parse(file_path=broken)


def test_checkov_bicep_checks_pass_with_only_the_listed_skips():
    env = os.environ | {"BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    result = subprocess.run([str(CHECKOV), "-d", str(INFRA), "--config-file", str(INFRA / ".checkov.yaml"),
                             "--skip-download", "-o", "json"], capture_output=True, text=True, env=env, timeout=600)
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 20


def test_app_settings_match_what_the_code_reads_in_both_directions():
    text = (INFRA / "app" / "function.bicep").read_text()
    declared, host = set(object_keys(text, "appSettings")), set(object_keys(text, "hostSettings"))
    read_by_code = {name for name, _, _ in documented_settings()}
    assert declared - read_by_code == set(), "declared in Bicep but never read by the code"
    assert read_by_code - LOCAL_ONLY - PLATFORM - declared == set(), "read by the code but not declared in Bicep"
    assert host == HOST_SETTINGS


def test_bicep_defaults_are_the_code_defaults():
    values = object_keys((INFRA / "app" / "function.bicep").read_text(), "appSettings")
    defaults = {name: default for name, default, _ in documented_settings()}
    for name, raw in values.items():
        if raw.startswith("'") and "${" not in raw and defaults.get(name) is not None:  # computed ones differ
            parsed = Settings.from_env({name: raw.strip("'")})
            field = next(f for f in Settings.__dataclass_fields__.values() if f.metadata["env"] == name)
            assert getattr(parsed, field.name) == defaults[name], name


def test_event_grid_filters_match_the_suffixes_the_handler_accepts():
    text = (INFRA / "app" / "eventgrid-subscriptions.bicep").read_text()
    assert sorted(string_list(text, "datasetSuffixes")) == suffix_filters()
    assert f"/blobServices/default/containers/{Settings().datasets_container}/blobs/" in text
    assert "'Microsoft.Storage.BlobCreated', 'Microsoft.Storage.BlobDeleted'" in text


def test_the_data_account_has_every_container_and_table_the_code_uses():
    text = (INFRA / "app" / "storage-data.bicep").read_text()
    s = Settings()
    containers = {s.datasets_container, s.quarantine_container, s.manifests_container, s.checkpoints_container,
                  s.models_container, s.inference_data_container, s.labelling_container, "eventgrid-deadletters"}
    assert set(string_list(text, "containers")) == containers
    tables = {s.ledger_table, s.state_table, s.runs_table, s.releases_table}
    assert set(string_list(text, "tables")) == tables
    assert "resource serviceTables 'Microsoft.Storage/storageAccounts/tableServices/tables@" in text


def test_the_worker_script_setting_names_the_entry_script():
    host = object_keys((INFRA / "app" / "function.bicep").read_text(), "hostSettings")
    script = host["PYTHON_SCRIPT_FILE_NAME"].strip("'")
    assert (ROOT / script).exists()
    from tests.function_host import SCRIPT_FILE_NAME

    assert script == SCRIPT_FILE_NAME


def test_parameter_files_only_override_settings_the_code_reads():
    names = {name for name, _, _ in documented_settings()}
    for path in sorted((INFRA / "env").glob("*.parameters.json")):
        overrides = json.loads(path.read_text())["parameters"]["serviceSettings"]["value"]
        assert set(overrides) <= names, path.name
        Settings.from_env(overrides)  # and every value is valid for its setting


def test_a_development_environment_can_be_torn_down_and_brought_back():
    """A purge-protected vault keeps its name reserved after `azd down`: off by default, on in production, and the
    name takes a suffix so a production environment can still come back within the retention period."""
    main = BicepParser().parse(file_path=INFRA / "main.bicep")
    vault = BicepParser().parse(file_path=INFRA / "app" / "keyvault.bicep")["resources"]["vault"]["config"]
    assert main["parameters"]["keyVaultPurgeProtection"]["default"] is False
    assert vault["properties"]["enablePurgeProtection"]["operator"]["operands"] == {
        "condition": "purgeProtection", "true_value": True, "false_value": None}
    assert vault["name"].endswith("${nameSuffix}")
    prod = json.loads((INFRA / "env" / "prod.parameters.json").read_text())["parameters"]
    assert prod["keyVaultPurgeProtection"]["value"] is True


def fires_per_minute(ncrontab: str) -> int:
    """How often a six-field NCRONTAB schedule fires within a minute (its seconds field)."""
    seconds = ncrontab.split()[0]
    if seconds == "*":
        return 60
    if seconds.startswith("*/"):
        return 60 // int(seconds[2:])
    return len(seconds.split(","))


def test_timers_let_a_flex_consumption_app_scale_to_zero():
    """A timer firing every few seconds keeps an instance running (and billed) around the clock."""
    deployed = object_keys((INFRA / "app" / "function.bicep").read_text(), "appSettings")
    for name in ("DEBOUNCE_SCHEDULE", "RELEASE_SCHEDULE"):
        default = next(d for n, d, _ in documented_settings() if n == name)
        assert fires_per_minute(default) == 1 and fires_per_minute(deployed[name].strip("'")) == 1, name
    assert fires_per_minute("*/15 * * * * *") == 4  # the old schedule, for the record


def test_the_services_own_log_lines_are_never_sampled_away():
    """Approvals, gate verdicts and releases are traces: Application Insights' adaptive sampling may only thin
    out the high-volume request and dependency telemetry."""
    host = json.loads((ROOT / "host.json").read_text())
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    excluded = set(sampling["excludedTypes"].split(";"))
    assert {"Trace", "Exception", "Event"} <= excluded
    assert sampling["isEnabled"] is True  # requests and dependencies stay sampled


def test_the_kubernetes_path_is_what_azure_ml_supports_on_a_fresh_subscription():
    """Azure ML's Kubernetes extension: no AKS with local accounts disabled (its documented limitations); a router
    with allowInsecureConnections False needs sslCname and a certificate, else it cannot start; host encryption
    needs a subscription feature a fresh subscription lacks, so it is a parameter, off by default."""
    tree = BicepParser().parse(file_path=INFRA / "app" / "aks.bicep")
    cluster = tree["resources"]["aks"]["config"]["properties"]
    assert cluster["disableLocalAccounts"] is False and cluster["aadProfile"]["managed"] is True
    assert {p["enableEncryptionAtHost"] for p in cluster["agentPoolProfiles"]} == {"encryptionAtHost"}
    assert tree["parameters"]["encryptionAtHost"]["default"] is False
    settings = tree["resources"]["azureml"]["config"]["properties"]["configurationSettings"]["function"]
    base, tls = settings["parameters"]["arg_1"], settings["parameters"]["arg_2"]
    assert settings["type"] == "union" and tls == "tls" and "allowInsecureConnections" not in base
    choice = tree["variables"]["tls"]["value"]["operator"]["operands"]
    assert choice["condition"] == {"function": {"type": "empty", "parameters": {"item_to_test": "sslCname"}}}
    assert choice["true_value"] == {"allowInsecureConnections": "True"}  # no certificate: HTTP, said so
    assert choice["false_value"] == {"allowInsecureConnections": "False", "sslCname": "sslCname",
                                     "sslSecret": "sslSecretName"}
    main = BicepParser().parse(file_path=INFRA / "main.bicep")
    passed = main["modules"]["aks"]["config"]["config"]["params"]
    assert (passed["sslCname"], passed["sslSecretName"], passed["encryptionAtHost"]) == (
        "kubernetesSslCname", "kubernetesSslSecretName", "kubernetesEncryptionAtHost")
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["kubernetesEncryptionAtHost"]["value"] == "${KUBERNETES_ENCRYPTION_AT_HOST=false}"


def test_identity_only_workspace_storage_uses_an_api_version_whose_spec_defines_it():
    """`systemDatastoresAuthMode` is in the stable spec from 2025-12-01 on: azure-ai-ml's ARM client, generated from
    that spec, has the property and its values; an older API version's schema would not define it."""
    from azure.ai.ml._restclient.arm_ml_service import _configuration
    from azure.ai.ml._restclient.arm_ml_service.models import SystemDatastoresAuthMode, WorkspaceProperties

    tree = BicepParser().parse(file_path=INFRA / "app" / "ml-workspace.bicep")
    workspace = tree["resources"]["workspace"]
    spec_version = re.search(r'api_version: str = kwargs.pop\("api_version", "([\d-]+)"\)',
                             Path(_configuration.__file__).read_text()).group(1)
    serialized = dict(WorkspaceProperties(system_datastores_auth_mode=SystemDatastoresAuthMode.IDENTITY))
    assert serialized == {"systemDatastoresAuthMode": "Identity"}
    assert workspace["api_version"] >= spec_version == "2025-12-01"
    assert workspace["config"]["properties"]["systemDatastoresAuthMode"] == SystemDatastoresAuthMode.IDENTITY.value


def test_azure_ml_builds_the_images_when_acr_tasks_are_refused():
    """USE_AML_BUILD: the workspace's image build compute (a property azure-ai-ml's ARM client has) is a CPU cluster
    of one node at most, scaled to zero, running as the compute identity (AcrPush in rbac.bicep); the image-based
    environment versions give way to the ones `local_mode aml-build` registers with the same names and routes."""
    from azure.ai.ml._restclient.arm_ml_service.models import WorkspaceProperties

    from shared.adapters.azureml_environments import IMAGES, SERVING_ROUTES

    tree = BicepParser().parse(file_path=INFRA / "app" / "ml-workspace.bicep")
    resources, variables = tree["resources"], tree["variables"]
    assert dict(WorkspaceProperties(image_build_compute="image-build")) == {"imageBuildCompute": "image-build"}
    choice = resources["workspace"]["config"]["properties"]["imageBuildCompute"]["operator"]["operands"]
    assert (choice["condition"], choice["true_value"], choice["false_value"]) == (
        "amlImageBuild", "buildComputeName", None)
    build = resources["buildCompute"]["config"]
    assert build["condition"] == "amlImageBuild" and variables["buildComputeName"]["value"] == "image-build"
    assert build["config"]["name"] == "buildComputeName"
    assert build["config"]["identity"]["userAssignedIdentities"] == {"'${computeIdentityId}'": {}}
    cluster = build["config"]["properties"]["properties"]
    assert cluster["scaleSettings"]["minNodeCount"] == 0 and cluster["scaleSettings"]["maxNodeCount"] == 1
    assert tree["parameters"]["buildVmSize"]["default"] == "Standard_DS3_v2"
    names = {variables["trainerEnvironment"]["value"], tree["parameters"]["servingEnvironment"]["default"],
             tree["parameters"]["servingOnnxEnvironment"]["default"]}
    assert names == {image.name for image in IMAGES} and all((ROOT / i.dockerfile).is_file() for i in IMAGES)
    for symbol in ("environmentVersion", "servingVersion", "servingOnnxVersion"):
        assert resources[symbol]["config"]["condition"] == {"operator": {"type": "not", "operands": {
            "bool_value": "amlImageBuild"}}}
    routes = resources["servingVersion"]["config"]["config"]["properties"]["inferenceConfig"]
    assert routes == {"livenessRoute": SERVING_ROUTES["liveness_route"], "readinessRoute":
                      SERVING_ROUTES["readiness_route"], "scoringRoute": SERVING_ROUTES["scoring_route"]}
    main = BicepParser().parse(file_path=INFRA / "main.bicep")
    for module in ("ml", "rbac"):
        assert main["modules"][module]["config"]["params"]["amlImageBuild"] == "amlImageBuild"
    azd = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert azd["amlImageBuild"]["value"] == "${USE_AML_BUILD=false}"
