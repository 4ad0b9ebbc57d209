"""Hostile or broken requests on every route get a clear 4xx, early, and change nothing they should not."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.adapters.event_grid import storage_blob_event, wire
from shared.events import storage_topic
from tests.function_host import handler, http_request, json_body

pytestmark = pytest.mark.azurite
DEEP = b"[" * 5_000 + b"]" * 5_000  # deeper than Python's recursion limit, within every body limit


def validation_event(code) -> dict:
    return {"id": "v", "topic": "/t", "subject": "", "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-11-25T10:00:00Z", "dataVersion": "2", "data": {"validationCode": code}}


def event(core, blob, **kw):
    return wire(storage_blob_event(kind="created", topic=storage_topic("s", "r", "a"), account_url="http://a",
                                   container=core.settings.datasets_container, blob=blob, sequencer="0001",
                                   etag="0x1", **kw))


def post_events(body: bytes, **headers):
    return handler("blob_events")(http_request("POST", "/api/events/blobs", body=body, headers=headers))


def test_an_event_from_the_future_counts_as_received_now(core):
    future = event(core, "p/a.jpg", event_time=datetime(2099, 1, 1, tzinfo=UTC))
    assert json_body(post_events(json.dumps([future]).encode()))["clamped"] == 1
    (row,) = core.tables.query(core.settings.ledger_table, "p")
    assert row["event_time"] < "2030"
    core.configure(quiet_seconds=60)
    assert core.tick("p", after_seconds=61).decision.action == "flush"  # the window closes as it should


def test_more_events_than_event_grid_sends_are_refused_whole_without_a_write(core):
    one = event(core, "nowhere/a.jpg")
    huge = post_events(json.dumps([one] * 20_000).encode())
    assert huge.status_code == 413 and "over the limit of 1048576" in json_body(huge)["error"]
    many = post_events(json.dumps([one] + [{}] * 5_000).encode())  # small enough, but too many
    assert many.status_code == 413 and "at most 5000" in json_body(many)["error"]
    assert list(core.tables.query(core.settings.ledger_table, "nowhere")) == []


def test_an_oversized_delivery_is_refused_from_its_content_length():
    response = post_events(b"[]", **{"Content-Length": str(5 * 1024 * 1024)})
    assert response.status_code == 413 and "over the limit" in json_body(response)["error"]


def test_subjects_that_climb_out_of_the_container_are_not_projects(core):
    body = json.dumps([event(core, "../x/a.jpg"), event(core, "%2e%2e/x/b.jpg"), event(core, "ok/c.jpg")]).encode()
    result = json_body(post_events(body))
    assert result["recorded"] == 1 and result["ignored"] == {"not a project folder name": 2}


@pytest.mark.parametrize("code", ["x" * 10_000, 12345, "<script>"])
def test_a_validation_code_that_is_not_one_is_refused(core, code):
    response = post_events(json.dumps([validation_event(code)]).encode())
    assert response.status_code == 400 and "validationCode" in json_body(response)["error"]


def test_validation_and_blob_events_in_one_batch_are_both_answered(core):
    answer = json_body(post_events(json.dumps([validation_event("abc-123"), event(core, "both/a.jpg")]).encode()))
    assert answer["validationResponse"] == "abc-123" and answer["recorded"] == 1


def test_deeply_nested_json_is_a_400_on_every_route_that_reads_json(core):
    events = post_events(DEEP)
    assert events.status_code == 400 and "nested deeper than" in json_body(events)["error"]
    as_json = {"Content-Type": "application/json"}
    approval = handler("approvals")(http_request("POST", "/api/approvals", body=DEEP, headers=as_json,
                                                 params={"token": "t", "decision": "approve"}))
    assert approval.status_code == 400 and "nested deeper than" in json_body(approval)["error"]
    not_an_object = handler("approvals")(http_request("POST", "/api/approvals", body=b"[1]", headers=as_json,
                                                      params={"token": "t", "decision": "approve"}))
    assert not_an_object.status_code == 400 and "expected a JSON object" in json_body(not_an_object)["error"]


@pytest.mark.parametrize(("route", "params"), [
    ("reports", {"project": "..", "batch_id": "x"}), ("reports", {"project": "p", "batch_id": "../../secrets"}),
    ("status", {"project": "%2e%2e"}), ("validate_dataset", {"project": ".."})])
def test_names_in_routes_must_be_single_folders(core, route, params):
    response = handler(route)(http_request("POST" if route == "validate_dataset" else "GET", f"/api/{route}",
                                           route_params=params))
    assert response.status_code == 400 and "is not a project folder name" in json_body(response)["error"]


def test_refused_approval_links_are_rate_limited_per_client(core):
    core.configure(approval_secret="s")
    headers = {"X-Forwarded-For": "203.0.113.9"}
    codes = [handler("approvals")(http_request("GET", "/api/approvals", headers=headers,
                                               params={"token": "forged.token", "decision": "approve"})).status_code
             for _ in range(11)]
    assert codes == [403] * 10 + [429]
    other = handler("approvals")(http_request("GET", "/api/approvals", headers={"X-Forwarded-For": "198.51.100.1"},
                                              params={"token": "forged.token", "decision": "approve"}))
    assert other.status_code == 403  # another client is not held back
