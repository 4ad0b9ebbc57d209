"""What a release watches: a new slot's answers paired with the live model's on the same images, and a slot's
health, from answers or from the rows score.py's collector stored."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.clock import iso
from shared.labelling.collected import CollectedRows, Detection
from shared.release_watch import (
    Answer,
    Limits,
    answers_of,
    compare,
    health_of,
    health_problem,
    percentile,
    unmatched,
)
from tests.unit.shared.labelling.samples import box, collector_file, rows

LIMITS = Limits(max_error_share=0.05, max_p95_ms=500, max_no_detection_share=0.9, min_requests=10)


def circle(x: float, label: str = "circle") -> Detection:
    return Detection(label, 0.9, (x, 0.1, x + 0.2, 0.3))


def test_objects_match_by_class_and_an_overlap_of_half_or_more():
    before = (circle(0.1), circle(0.5))
    lost, new = unmatched(before, (circle(0.12), circle(0.5, "square")))
    assert lost == [circle(0.5)] and new == [circle(0.5, "square")]
    lost, new = unmatched(before, (circle(0.2),))  # IoU 1/3 with the first: not the same object
    assert lost == list(before) and new == [circle(0.2)]


def test_shadow_figures_pair_by_image_and_count_objects_lost_and_new_per_class():
    live = [Answer("a", 200, 10, (circle(0.1),)), Answer("b", 200, 30, (circle(0.1),)), Answer("c", 200, 20)]
    shadow = [Answer("a", 200, 40, (circle(0.1),)), Answer("b", 200, 50, (circle(0.5, "square"),)),
              Answer("d", 200, 60, (circle(0.1),)), Answer("c", 503, 70)]
    figures = compare(live, shadow)
    assert (figures.paired, figures.agreeing, figures.agreement) == (2, 1, 0.5), "d has no live twin, c failed"
    assert (dict(figures.lost), dict(figures.new)) == ({"circle": 1}, {"square": 1})
    assert (figures.shadow.errors, figures.live_p50_ms, figures.shadow_p50_ms) == (1, 20, 50)


def test_health_is_judged_only_with_enough_requests_errors_first():
    when = iso(datetime(2026, 12, 6, 12, tzinfo=UTC))
    failing = [Answer(str(i), 500, 5, time=when) for i in range(2)] + [Answer("ok", 200, 900, (circle(0.1),))]
    assert health_problem(health_of(failing), LIMITS) is None, "three requests are too few"
    health = health_of(failing * 4)
    assert health.first_failure == when and health.p95_ms == 900
    assert health_problem(health, LIMITS) == "8 of 12 requests failed (67%; the limit is 5%)"
    slow = health_of([Answer(str(i), 200, 100 + i * 50, (circle(0.1),)) for i in range(12)])
    assert health_problem(slow, LIMITS) == "p95 latency 650 ms over 12 requests (the limit is 500 ms)"
    blind = health_of([Answer(str(i), 200, 10) for i in range(12)])
    assert health_problem(blind, LIMITS) == "100% of 12 answers found nothing (the limit is 90%)"
    assert percentile([5.0], 95) == 5.0 and percentile([], 50) is None


def test_answers_are_read_from_the_collected_rows_failures_included():
    when = datetime(2026, 12, 6, 12, tzinfo=UTC)
    ok_in, ok_out = rows("r1", b"img-1", [box("circle", 0.9)])
    bad_in, bad_out = rows("r2", b"img-2", [])
    bad_out |= {"status": 500, "error": "InvalidArgument: bad input", "latency_ms": 3.0}
    collected = CollectedRows()
    collected.add_file("in.jsonl", "model_inputs", collector_file([ok_in, bad_in], when))
    collected.add_file("out.jsonl", "model_outputs", collector_file([ok_out, bad_out], when) + b"not json\n")

    found = {a.image: a for a in answers_of(collected)}
    assert found[ok_in["image_sha256"]].detections[0].label == "circle"
    assert (found[bad_in["image_sha256"]].status, found[bad_in["image_sha256"]].time) == (500, iso(when))
    assert collected.problems == ["out.jsonl line 2: Expecting value: line 1 column 1 (char 0)"]
    assert [s.request_id for s in collected.samples()] == ["r1"], "a failed request is nothing to label"
