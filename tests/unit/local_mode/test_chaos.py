"""The chaos soak's faults as local mode plays them: orders read once, each fault striking the number of times
ordered, and what the event source believes delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from local_mode import chaos as chaos_module
from local_mode.chaos import Chaos


def order(folder, name: str, **body) -> None:
    (folder / f"{name}.json").write_text(json.dumps(body))


def events(*names: str) -> list[dict]:
    return [{"subject": f"/blobServices/default/containers/datasets/blobs/{n}", "eventType": "BlobCreated"}
            for n in names]


@pytest.fixture
def chaos(tmp_path):
    return Chaos(tmp_path, seed=3)


def test_orders_are_read_once_and_a_bad_one_is_removed_not_retried(chaos, tmp_path):
    order(tmp_path, "1", fault="drop-events", count=2)
    (tmp_path / "2.json").write_text("{not json")
    chaos.take_orders()
    assert chaos.armed["drop-events"] == 2 and list(tmp_path.iterdir()) == []
    chaos.take_orders()
    assert chaos.armed["drop-events"] == 2


def test_dropped_events_are_never_delivered_and_the_rest_are(chaos, tmp_path):
    delivered: list[list[dict]] = []
    order(tmp_path, "1", fault="drop-events", count=1)
    chaos.take_orders()
    deliver = chaos.blob_delivery(delivered.append)
    deliver(events("p/a.jpg", "p/b.jpg"))
    deliver(events("p/c.jpg"))
    assert [len(d) for d in delivered] == [1, 1] and chaos.armed["drop-events"] == 0


def test_a_duplicated_delivery_comes_twice(chaos, tmp_path):
    delivered: list[list[dict]] = []
    order(tmp_path, "1", fault="duplicate-events", count=1)
    chaos.take_orders()
    deliver = chaos.blob_delivery(delivered.append)
    deliver(events("p/a.jpg"))
    deliver(events("p/b.jpg"))
    assert delivered == [events("p/a.jpg"), events("p/a.jpg"), events("p/b.jpg")]


def test_a_held_delivery_comes_after_later_ones_once_due(chaos, tmp_path, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(chaos_module.time, "monotonic", lambda: clock[0])
    delivered: list[list[dict]] = []
    order(tmp_path, "1", fault="reorder-events", count=1, seconds=30)
    chaos.take_orders()
    deliver = chaos.blob_delivery(delivered.append)
    deliver(events("p/a.jpg"))
    deliver(events("p/b.jpg"))
    chaos.release_held(delivered.append)
    assert delivered == [events("p/b.jpg")]
    clock[0] += 31
    chaos.release_held(delivered.append)
    assert delivered == [events("p/b.jpg"), events("p/a.jpg")]


def test_a_lost_run_end_is_not_delivered_and_the_next_one_is(chaos, tmp_path):
    delivered: list[list[dict]] = []
    order(tmp_path, "1", fault="lose-completion", count=1)
    chaos.take_orders()
    deliver = chaos.run_delivery(delivered.append)
    deliver([{"subject": "runs/a", "data": {"runStatus": "Completed"}}])
    deliver([{"subject": "runs/b", "data": {"runStatus": "Completed"}}])
    assert delivered == [[{"subject": "runs/b", "data": {"runStatus": "Completed"}}]]


def test_a_skewed_clock_lasts_one_loop_pass(chaos, tmp_path):
    order(tmp_path, "1", fault="skew-clock", seconds=-120)
    chaos.take_orders()
    skewed = (datetime.now(UTC) - chaos.clock()).total_seconds()
    chaos.tick_done()
    assert skewed == pytest.approx(120, abs=1)
    assert (datetime.now(UTC) - chaos.clock()).total_seconds() == pytest.approx(0, abs=1)
