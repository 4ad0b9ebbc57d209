"""A batch's story from log lines alone: its own lines, its runs' lines, and exactly the uploads its flush took."""

import json

from shared import log_timeline


def line(time: str, message: str, **fields) -> dict:
    return {"time": f"2026-11-26T07:{time}Z", "level": "INFO", "message": message} | fields


LINES = [
    line("00:01.000", "uploads recorded", project="birds", files=3, last_event_time="2026-11-26T07:00:00.500000Z"),
    line("00:02.000", "uploads recorded", project="cats", files=9, last_event_time="2026-11-26T07:00:01.000000Z"),
    line("01:00.000", "flush claimed", project="birds", batch_id="birds-1", cut="2026-11-26T07:00:00.500000Z",
         changes=3),
    line("01:30.000", "uploads recorded", project="birds", files=2, last_event_time="2026-11-26T07:01:20.000000Z"),
    line("02:00.000", "training submitted", project="birds", batch_id="birds-1", run_id="run-1"),
    line("02:05.000", "training progress", run_id="run-1", step=10),
    line("03:00.000", "flush claimed", project="birds", batch_id="birds-2", cut="2026-11-26T07:01:20.000000Z",
         changes=2),
    line("04:00.000", "training run ended", project="birds", batch_id="birds-1", run_id="run-1", status="Completed"),
    line("05:00.000", "approval decided", project="birds", batch_id="birds-1", model_version="4", state="approved",
         approver="ana"),
]


def test_a_batch_gets_its_own_uploads_runs_and_steps_in_time_order():
    story = log_timeline.timeline(LINES, "birds-1")
    assert [(s["message"], s.get("files")) for s in story] == [
        ("uploads recorded", 3), ("flush claimed", None), ("training submitted", None), ("training progress", None),
        ("training run ended", None), ("approval decided", None)]


def test_the_next_batch_gets_the_uploads_after_the_previous_cut():
    story = log_timeline.timeline(LINES, "birds-2")
    assert [(s["message"], s.get("files")) for s in story] == [("uploads recorded", 2), ("flush claimed", None)]


def test_batches_are_listed_oldest_first_and_an_unknown_batch_has_no_story():
    assert log_timeline.batches(LINES) == [("birds", "birds-1"), ("birds", "birds-2")]
    assert log_timeline.batches(LINES, "cats") == []
    assert log_timeline.timeline(LINES, "nope") == []


def test_parse_skips_what_is_not_a_json_line_with_a_message():
    text = [json.dumps(LINES[0]), "Traceback (most recent call last):", '{"no": "message"}', '{"message": "x"']
    assert [p["message"] for p in log_timeline.parse(text)] == ["uploads recorded"]


def test_a_rendered_line_shows_time_level_message_and_the_fields_a_person_needs():
    shown = log_timeline.render(LINES[-1])
    assert shown.startswith("07:05:00.000  INFO     approval decided  ")
    assert "state=approved" in shown and "approver=ana" in shown and "model_version=4" in shown
