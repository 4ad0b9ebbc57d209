"""score.py's lines reach Application Insights with local authentication off: the deployment the Azure adapter
builds gives score.py a connection string and an Entra sign-in as the endpoint identity; the real Azure Monitor
exporter gets its token from Azure ML's managed identity endpoint (through azure-identity) and the ingestion takes
only that. Without the sign-in, score.py says it sends nothing instead of having every line refused."""

from __future__ import annotations

import json
import logging

import pytest

from shared.adapters.azureml_endpoint import AzureMLEndpoints
from shared.ports import DeploymentSpec
from tests.contract.conftest import TELEMETRY, azure_settings
from tests.fakes.app_insights import AzureMLIdentityEndpoint, Ingestion
from tests.fakes.azure_cloud import FakeAzure
from tests.fakes.http import ServiceTransport
from trainer_image.serving import telemetry

INGESTION_HOST = "westeurope-5.in.applicationinsights.azure.com"  # the connection string's IngestionEndpoint


@pytest.fixture
def deployment_environment(azure: FakeAzure):
    """The environment variables Azure ML gives the blue deployment's container."""
    adapter = AzureMLEndpoints(azure.ml_client(), azure_settings(azure), scoring_transport=azure.transport)
    spec = DeploymentSpec(project="shapes", model_name="tfod-shapes", model_version="1",
                          model_folder="shapes/b1/model")
    return dict(adapter.build_deployment(spec, "blue").environment_variables)


@pytest.fixture
def score_log():
    log = logging.getLogger("azmlinfsrv.score.telemetry-test")
    log.setLevel(logging.INFO)
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def test_scored_lines_reach_app_insights_signed_in_as_the_endpoint_identity(deployment_environment, score_log,
                                                                            monkeypatch):
    ingestion, identity = Ingestion(publishers={"client-id-serve"}), AzureMLIdentityEndpoint()
    environ = deployment_environment | identity.environ | {"APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true"}
    for name, value in environ.items():
        monkeypatch.setenv(name, value)  # the exporter and azure-identity read the process environment
    try:
        handler = telemetry.send_to_application_insights(
            score_log, environ, transport=ServiceTransport({INGESTION_HOST: ingestion.handle}),
            disable_offline_storage=True)
        line = {"message": "scored", "status": 200, "latency_ms": 12.5, "model_version": "1", "deployment": "blue"}
        score_log.info(json.dumps(line))
        handler.flush()
    finally:
        identity.close()
    assert environ["APPLICATIONINSIGHTS_CONNECTION_STRING"] == TELEMETRY
    assert [q.get("clientid") for q in identity.asked] == ["client-id-serve"]
    assert identity.asked[0]["resource"].startswith("https://monitor.azure.com")
    assert ingestion.refused == []
    assert ingestion.messages() == [{"message": json.dumps(line), "role": "tfod-ab12cd-shapes",
                                     "sent_as": "client-id-serve"}]


def test_without_an_entra_sign_in_score_says_it_sends_nothing(deployment_environment, score_log, caplog):
    environ = {k: v for k, v in deployment_environment.items() if k != telemetry.AUTHENTICATION}
    with caplog.at_level(logging.WARNING, logger=score_log.name):
        assert telemetry.send_to_application_insights(score_log, environ) is None
    said = json.loads(caplog.records[-1].getMessage())
    assert said["message"] == "telemetry not sent: Application Insights takes Entra ID sign-in only"
    assert telemetry.AUTHENTICATION in said["fix"] and score_log.handlers == []


def test_a_deployment_without_application_insights_attaches_nothing(deployment_environment, score_log):
    environ = {k: v for k, v in deployment_environment.items() if not k.startswith("APPLICATIONINSIGHTS_")}
    assert telemetry.send_to_application_insights(score_log, environ) is None and score_log.handlers == []
