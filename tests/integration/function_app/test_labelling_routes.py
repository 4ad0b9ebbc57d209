"""The labelling routes, called as the host calls them, on Azurite: an export on demand and the daily timer."""

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from function_app import bootstrap
from shared.clock import iso
from shared.pipeline.records import Records, ReleaseState
from shared.serving import endpoint_name
from tests.function_host import handler, http_request, json_body
from tests.unit.shared.labelling.samples import box, collector_file, rows, scene

pytestmark = pytest.mark.azurite


@pytest.fixture
def live(settings, blob_store, table_store):
    """Version 2 of `birds` is live; the collector stored two requests an hour ago, one the model was unsure of.
    The random sample of confident images is off: it picked the sure one in 2% of runs (the seed holds the export's
    random id), and these tests count the uncertain pick."""
    suffix = uuid.uuid4().hex[:8]
    settings = settings.with_overrides(state_table=f"s{suffix}", releases_table=f"e{suffix}",
                                       labelling_container=f"tl{suffix}", inference_data_container=f"inf{suffix}",
                                       labelling_confident_share=0.0)
    bootstrap.use(bootstrap.Services(settings, blob_store, table_store))
    now = datetime.now(UTC)
    Records(table_store, settings).save_release(ReleaseState(
        project="birds", phase="live", live_slot="blue", live_model_name="tfod-birds", live_model_version="2",
        live_model_folder="birds/b1/model", live_since=iso(now - timedelta(days=1))))
    blob_store.write(settings.models_container, "birds/b1/model/label_map.pbtxt", b"item { id: 1 name: 'circle' }\n")
    made = [rows("unsure", scene(1)[0], [box("circle", 0.4)], "2"), rows("sure", scene(2)[0], [box("circle", .9)], "2")]
    when = now - timedelta(hours=1)
    for collection, side in (("model_inputs", 0), ("model_outputs", 1)):
        blob_store.write(settings.inference_data_container,
                         f"{endpoint_name(settings, 'birds')}/blue/{collection}/{when:%Y/%m/%d/%H}/a.jsonl",
                         collector_file([m[side] for m in made], when))
    yield settings
    bootstrap.use(None)


def test_an_export_on_demand_writes_the_uncertain_image_and_says_where(live, blob_store):
    answer = handler("export_for_labelling")(http_request("POST", "/api/labelling/birds/export",
                                                          route_params={"project": "birds"}))
    assert answer.status_code == 200, answer.get_body()
    body = json_body(answer)
    assert body["exported"] == 1 and body["folder"] == f"{live.labelling_container}/birds/{body['export_id']}/"
    document = json.loads(blob_store.read(live.labelling_container, f"birds/{body['export_id']}/export.json").data)
    assert [i["request_id"] for i in document["items"]] == ["unsure"]
    again = json_body(handler("export_for_labelling")(http_request(
        "POST", "/api/labelling/birds/export", route_params={"project": "birds"})))
    assert again["exported"] == 0  # nothing new since


def test_a_project_without_a_live_model_is_404_and_a_bad_name_400(live):
    none = handler("export_for_labelling")(http_request("POST", "/api/labelling/fish/export",
                                                        route_params={"project": "fish"}))
    assert none.status_code == 404 and json_body(none)["reason"] == "no live model: nothing has been collected"
    bad = handler("export_for_labelling")(http_request("POST", "/api/labelling/../export",
                                                       route_params={"project": ".."}))
    assert bad.status_code == 400


def test_the_daily_timer_exports_and_records_the_drift_watch(live, table_store):
    handler("labelling_tick")(None)
    status = json_body(handler("status")(http_request("GET", "/api/status/birds", route_params={"project": "birds"})))
    assert status["labelling"]["last_export"]["exported"] == 1
    assert status["drift"]["reason"].startswith("the live model has no validation profile")
