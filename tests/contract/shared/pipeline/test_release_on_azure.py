"""A whole blue/green release, driven by the release state machine over Azure ML's real SDK (training job, model
registered from its output, endpoint, two deployments, smoke tests, traffic, retirement), state on Azurite."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from shared.adapters.azureml_endpoint import AzureMLEndpoints
from shared.adapters.azureml_registry import AzureMLRegistry
from shared.adapters.azureml_training import AzureMLTraining
from shared.dataset.label_map import LabelMap
from shared.dataset.manifest import build_manifest, manifest_bytes
from shared.pipeline.release import Release
from shared.ports import DeploymentSpec
from shared.registry import ModelCandidate
from tests.contract.conftest import azure_settings
from tests.contract.shared.adapters.test_azureml_training import REQUEST

pytestmark = pytest.mark.azurite


def test_two_versions_go_live_one_after_the_other_through_the_sdk(azure, settings, blob_store, table_store):
    suffix = uuid.uuid4().hex[:6]
    settings = azure_settings(azure).with_overrides(
        storage_connection_string=settings.storage_connection_string, releases_table=f"rel{suffix}",
        runs_table=f"runs{suffix}", state_table=f"state{suffix}", datasets_container=settings.datasets_container,
        manifests_container=settings.manifests_container)
    for table in (settings.runs_table, settings.state_table):
        table_store.ensure_table(table)
    blob_store.write(settings.datasets_container, "shapes/a.jpg", b"\xff\xd8 jpeg bytes")
    index, shards = build_manifest(
        project="shapes", container=settings.datasets_container, prefix="shapes/", label_map=LabelMap(),
        validation_fraction=1.0, entries=[{"image": {"name": "shapes/a.jpg", "etag": "e", "md5": "m", "size": 1},
                                           "annotation": None, "width": 1, "height": 1, "split": "validation",
                                           "objects": [{"name": "x", "label": 1, "bbox": [0, 0, 1, 1],
                                                        "difficult": False, "truncated": False}]}])
    blob_store.write(settings.manifests_container, "shapes/m.json", manifest_bytes(index))
    for shard in shards:
        blob_store.write(settings.manifests_container, f"shapes/{shard.blob}", shard.data)

    ml = azure.ml_client()
    training, registry = AzureMLTraining(ml, settings), AzureMLRegistry(ml)
    endpoints = AzureMLEndpoints(ml, settings, scoring_transport=azure.transport)
    releases = Release(table_store, blob_store, settings, lambda: endpoints, lambda: registry)
    versions = []
    for batch in ("shapes-b1", "shapes-b2"):
        run = training.submit(replace(REQUEST, batch_id=batch))
        azure.ml.finish_job(run.job_name)
        table_store.upsert(settings.runs_table, {"PartitionKey": "shapes", "RowKey": batch,
                                                 "manifest": "shapes/m.json"})
        model = registry.register(ModelCandidate("shapes", run.run_id, batch, "v", "base", f"shapes/{batch}/model",
                                                 {"map": 0.5}))
        versions.append(model.version)
        spec = DeploymentSpec("shapes", model.name, model.version, f"shapes/{batch}/model")
        with azure.sdk_uploads():
            phases = [releases.start(spec, batch)["phase"]]
            while phases[-1] == "provisioning" and len(phases) < 6:
                azure.ml.settle()  # Azure works between two release ticks
                phases.append(releases.advance("shapes"))
        assert phases[-1] == "live", (phases, releases.status("shapes"))

    status = releases.status("shapes")
    assert status["live_model"]["version"] == versions[1] == "2" and status["live_slot"] == "green"
    assert status["scoring_uri"] == "https://tfod-ab12cd-shapes.westeurope.inference.ml.azure.com/score"
    endpoint = "tfod-ab12cd-shapes"
    assert azure.ml.get(f"onlineEndpoints/{endpoint}")["properties"]["traffic"] == {"green": 100}
    azure.ml.settle()
    assert azure.ml.get(f"onlineEndpoints/{endpoint}/deployments/blue") is None  # the old slot is gone
    # each new slot was smoke-tested alone, with the endpoint's key and a real validation image, before traffic
    assert azure.ml.scored == [(endpoint, "blue", b"\xff\xd8 jpeg bytes"), (endpoint, "green", b"\xff\xd8 jpeg bytes")]
    tags = {v: azure.ml.get(f"models/tfod-shapes/versions/{v}")["properties"]["tags"]["state"] for v in versions}
    assert tags == {"1": "retired", "2": "deployed"}
    runs = {r["RowKey"]: r.get("model_state") for r in table_store.query(settings.runs_table, "shapes")}
    assert runs == {"shapes-b1": "retired", "shapes-b2": "deployed"}  # what the status endpoint lists
