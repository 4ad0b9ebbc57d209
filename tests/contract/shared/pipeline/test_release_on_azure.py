"""A whole blue/green release, driven by the release state machine over Azure ML's real SDK (training job, model
registered from its output, endpoint, two deployments, smoke tests, traffic, retirement), state on Azurite."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

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
from tests.unit.shared.labelling.samples import box, collector_file, rows

pytestmark = pytest.mark.azurite


class AzureRelease:
    """The release use case over Azure ML's real SDK on the fake service, state and collected data on Azurite."""

    def __init__(self, azure, settings, blob_store, table_store, **overrides) -> None:
        suffix = uuid.uuid4().hex[:6]
        self.settings = settings = azure_settings(azure).with_overrides(
            storage_connection_string=settings.storage_connection_string, releases_table=f"rel{suffix}",
            runs_table=f"runs{suffix}", state_table=f"state{suffix}", datasets_container=settings.datasets_container,
            manifests_container=settings.manifests_container, inference_data_container=f"inf{suffix}", **overrides)
        self.azure, self.blobs, self.tables = azure, blob_store, table_store
        for table in (settings.runs_table, settings.state_table):
            table_store.ensure_table(table)
        blob_store.ensure_container(settings.inference_data_container)
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
        self.training, self.registry = AzureMLTraining(ml, settings), AzureMLRegistry(ml)
        self.endpoints = AzureMLEndpoints(ml, settings, blobs=blob_store, scoring_transport=azure.transport)
        self.releases = Release(table_store, blob_store, settings, lambda: self.endpoints, lambda: self.registry)

    def release(self, batch: str) -> tuple[str, list[str]]:
        """Train, register and release one version; the phases it went through until it settled."""
        run = self.training.submit(replace(REQUEST, batch_id=batch))
        self.azure.ml.finish_job(run.job_name)
        self.tables.upsert(self.settings.runs_table, {"PartitionKey": "shapes", "RowKey": batch,
                                                      "manifest": "shapes/m.json"})
        model = self.registry.register(ModelCandidate("shapes", run.run_id, batch, "v", "base",
                                                      f"shapes/{batch}/model", {"map": 0.5}))
        spec = DeploymentSpec("shapes", model.name, model.version, f"shapes/{batch}/model")
        with self.azure.sdk_uploads():
            phases = [self.releases.start(spec, batch)["phase"]]
            while phases[-1] == "provisioning" and len(phases) < 6:
                self.azure.ml.settle()  # Azure works between two release ticks
                phases.append(self.releases.advance("shapes"))
        return model.version, phases

    def collected(self, slot: str, answers: list[tuple[bytes, list[dict], int]]) -> None:
        """What the slot's data collector stores from score.py: one file per collection, rows joined by id."""
        now = datetime.now(UTC)
        inputs, outputs = [], []
        for number, (image, detections, status) in enumerate(answers):
            row_in, row_out = rows(f"{slot}-{number}-{uuid.uuid4().hex[:6]}", image, detections)
            inputs.append(row_in)
            outputs.append(row_out | ({"status": status, "error": "RuntimeError: boom"} if status >= 500 else {}))
        folder = f"{ENDPOINT}/{slot}/{{}}/{now:%Y/%m/%d/%H}/{now:%M%S%f}.jsonl"
        self.blobs.write(self.settings.inference_data_container, folder.format("model_inputs"),
                         collector_file(inputs, now))
        self.blobs.write(self.settings.inference_data_container, folder.format("model_outputs"),
                         collector_file(outputs, now))


ENDPOINT = "tfod-ab12cd-shapes"


def test_two_versions_go_live_one_after_the_other_through_the_sdk(azure, settings, blob_store, table_store):
    release = AzureRelease(azure, settings, blob_store, table_store, release_shadow_percent=0,
                           release_bake_minutes=0)
    versions = []
    for batch in ("shapes-b1", "shapes-b2"):
        version, phases = release.release(batch)
        versions.append(version)
        assert phases[-1] == "live", (phases, release.releases.status("shapes"))
    releases, settings = release.releases, release.settings

    status = releases.status("shapes")
    assert status["live_model"]["version"] == versions[1] == "2" and status["live_slot"] == "green"
    assert status["scoring_uri"] == "https://tfod-ab12cd-shapes.westeurope.inference.ml.azure.com/score"
    endpoint = ENDPOINT
    assert azure.ml.get(f"onlineEndpoints/{endpoint}")["properties"]["traffic"] == {"green": 100}
    azure.ml.settle()
    assert azure.ml.get(f"onlineEndpoints/{endpoint}/deployments/blue") is None  # the old slot is gone
    # each new slot was smoke-tested alone, with the endpoint's key and a real validation image, before traffic
    assert azure.ml.scored == [(endpoint, "blue", b"\xff\xd8 jpeg bytes"), (endpoint, "green", b"\xff\xd8 jpeg bytes")]
    tags = {v: azure.ml.get(f"models/tfod-shapes/versions/{v}")["properties"]["tags"]["state"] for v in versions}
    assert tags == {"1": "retired", "2": "deployed"}
    runs = {r["RowKey"]: r.get("model_state") for r in table_store.query(settings.runs_table, "shapes")}
    assert runs == {"shapes-b1": "retired", "shapes-b2": "deployed"}  # what the status endpoint lists


def test_mirrored_traffic_then_a_bake_that_fails_rolls_back_through_the_sdk(azure, settings, blob_store, table_store):
    """Shadow with Azure ML's mirror_traffic, compared from the collected rows; switched; the new slot's failures
    while it bakes (score.py's failure rows) send all traffic back to the old deployment."""
    release = AzureRelease(azure, settings, blob_store, table_store, release_shadow_requests=6,
                           release_min_requests=5)
    assert release.release("shapes-b1")[1][-1] == "live"
    version, phases = release.release("shapes-b2")
    assert version == "2"
    assert phases[-1] == "shadowing", phases
    endpoint = azure.ml.get(f"onlineEndpoints/{ENDPOINT}")["properties"]
    assert (endpoint["traffic"], endpoint["mirrorTraffic"]) == ({"blue": 100}, {"green": 10})
    images = [(f"image-{i}".encode(), [box("circle", 0.9)], 200) for i in range(6)]
    release.collected("blue", images)
    release.collected("green", images)
    assert release.releases.advance("shapes") == "baking"
    endpoint = azure.ml.get(f"onlineEndpoints/{ENDPOINT}")["properties"]
    assert (endpoint["traffic"], endpoint["mirrorTraffic"]) == ({"green": 100}, {})  # the SDK sends no zero share
    assert release.releases.status("shapes")["shadow"]["agreement"] == 1.0
    azure.ml.settle()
    assert azure.ml.get(f"onlineEndpoints/{ENDPOINT}/deployments/blue") is not None, "blue must stay while baking"
    release.collected("green", images[:3] + [(b"x", [], 500)] * 4)
    assert release.releases.advance("shapes") == "rolled-back"
    shown = release.releases.status("shapes")
    assert "4 of 7 requests failed" in shown["reason"] and shown["live_model"]["version"] == "1"
    assert azure.ml.get(f"onlineEndpoints/{ENDPOINT}")["properties"]["traffic"] == {"blue": 100}
    azure.ml.settle()
    assert azure.ml.get(f"onlineEndpoints/{ENDPOINT}/deployments/green") is None
    tags = {v: azure.ml.get(f"models/tfod-shapes/versions/{v}")["properties"]["tags"]["state"] for v in ("1", "2")}
    assert tags == {"1": "deployed", "2": "deploy-failed"}
