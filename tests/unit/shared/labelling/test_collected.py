from datetime import UTC, datetime

from shared.labelling.collected import INPUTS, OUTPUTS, CollectedRows
from tests.unit.shared.labelling.samples import box, collector_file, rows, scene

T1, T2 = datetime(2026, 11, 25, 10, 0, 1, tzinfo=UTC), datetime(2026, 11, 25, 10, 0, 2, tzinfo=UTC)


def test_inputs_join_outputs_by_request_id_and_images_come_back_whole():
    image, _ = scene(3)
    a_in, a_out = rows("a", image, [box("circle", 0.45)])
    b_in, _ = rows("b", image, [])
    collected = CollectedRows()
    collected.add_file("e/blue/model_inputs/2026/11/25/10/1.jsonl", INPUTS, collector_file([a_in, b_in], T1))
    collected.add_file("e/blue/model_outputs/2026/11/25/10/1.jsonl", OUTPUTS, collector_file([a_out], T1))
    (only,) = collected.samples()  # b's output is not stored yet: it waits for the next export
    assert only.request_id == "a" and only.image == image and only.top_score == 0.45
    assert only.detections[0].box == (0.1, 0.1, 0.4, 0.4) and only.model_version == "1"
    assert collected.latest == "2026-11-25T10:00:01.000000Z"


def test_rows_read_by_an_earlier_export_are_left_out():
    a_in, a_out = rows("a", b"x", [])
    b_in, b_out = rows("b", b"y", [])
    collected = CollectedRows()
    data_in = collector_file([a_in], T1) + collector_file([b_in], T2)
    data_out = collector_file([a_out], T1) + collector_file([b_out], T2)
    collected.add_file("in", INPUTS, data_in, after="2026-11-25T10:00:01.000000Z")
    collected.add_file("out", OUTPUTS, data_out, after="2026-11-25T10:00:01.000000Z")
    assert [s.request_id for s in collected.samples()] == ["b"]


def test_a_bad_line_is_named_by_file_and_line_and_the_rest_is_read():
    a_in, _ = rows("a", b"x", [])
    collected = CollectedRows()
    collected.add_file("e/blue/model_inputs/x.jsonl", INPUTS, b"{not json\n" + collector_file([a_in], T1) +
                       b'{"time": "2026-11-25T10:00:00Z", "data": 3}\n')
    assert list(collected.inputs) == ["a"]
    assert collected.problems[0].startswith("e/blue/model_inputs/x.jsonl line 1: ")
    assert collected.problems[1] == "e/blue/model_inputs/x.jsonl line 3: 'data' is not a list of rows"


def test_a_mirrored_request_keeps_each_versions_answer_whichever_file_is_read_last():
    """While a release shadows, a mirrored request is answered and collected by both slots under one request id:
    the labelling export takes the live version's answer, the drift watch each version's own."""
    image, _ = scene(3)
    live_in, live_out = rows("a", image, [box("circle", 0.45)], version="1")
    _, new_out = rows("a", image, [box("square", 0.9)], version="2")
    collected = CollectedRows()
    collected.add_file("e/blue/model_inputs/2026/11/25/10/1.jsonl", INPUTS, collector_file([live_in], T1))
    collected.add_file("e/blue/model_outputs/2026/11/25/10/1.jsonl", OUTPUTS, collector_file([live_out], T1))
    collected.add_file("e/green/model_outputs/2026/11/25/10/1.jsonl", OUTPUTS, collector_file([new_out], T2))
    (live,) = collected.samples("1")
    assert (live.model_version, live.detections[0].label) == ("1", "circle")
    assert [d[0].label for d in collected.detections_of("2")] == ["square"]
    assert [s.model_version for s in collected.samples("3")] == []
