import base64
import io

import pytest
from PIL import Image

from shared.labelling.collected import Detection, Sample
from shared.labelling.selection import (
    SelectionPolicy,
    difference_hash,
    kind_of,
    policy_for,
    reasons_for,
    select,
)
from tests.unit.shared.labelling.samples import scene

POLICY = SelectionPolicy(confident_share=0.0, max_images=10)


def sample(request_id: str, *scores: float, image: bytes | None = b"", labels: tuple[str, ...] = (),
           boxes: tuple = ()) -> Sample:
    detections = tuple(Detection(labels[i] if labels else "circle", s, boxes[i] if boxes else (0.1, 0.1, 0.4, 0.4))
                       for i, s in enumerate(scores))
    data = scene(int(request_id.strip("r")))[0] if image == b"" else image
    return Sample(request_id, f"2026-11-25T10:00:{int(request_id.strip('r')):02d}.000000Z", f"{request_id:0>64}",
                  len(data or b"x"), 96, 96, base64.b64encode(data).decode() if data else None, detections, "1")


def test_each_kind_of_doubt_is_picked_with_its_reason():
    assert reasons_for(sample("r1"), POLICY)[0] == ["no detection at or above 0.5 (top score 0.00)"]
    missed_but_close = reasons_for(sample("r2", 0.45), POLICY)[0]
    assert missed_but_close == ["no detection at or above 0.5 (top score 0.45)",
                                "top score 0.45 inside the uncertainty band 0.3 to 0.6"]
    assert reasons_for(sample("r3", 0.9), POLICY)[0] == []
    clash = sample("r4", 0.9, 0.8, labels=("circle", "square"), boxes=((0.1, 0.1, 0.4, 0.4), (0.12, 0.1, 0.42, 0.4)))
    assert reasons_for(clash, POLICY)[0] == ["1 overlapping box pair(s) of different classes (circle, square)"]
    apart = sample("r5", 0.9, 0.8, labels=("circle", "square"), boxes=((0.1, 0.1, 0.3, 0.3), (0.6, 0.6, 0.9, 0.9)))
    assert reasons_for(apart, POLICY)[0] == []
    half_seen = sample("r6", 0.9, 0.4, 0.35, labels=("circle", "square", "circle"),
                       boxes=((0.1, 0.1, 0.3, 0.3), (0.6, 0.6, 0.9, 0.9), (0.11, 0.1, 0.31, 0.3)))
    assert reasons_for(half_seen, POLICY)[0] == [  # the 0.35 circle repeats the sure one: not a new object
        "1 box(es) with scores inside the band and no confident box on them (square 0.40)"]
    assert [kind_of(r) for r in reasons_for(half_seen, POLICY)[0] + reasons_for(sample("r2", 0.45), POLICY)[0]] == [
        "uncertain objects", "missed", "uncertain"]


def test_the_least_confident_come_first_and_the_cap_is_reported_not_silent():
    samples = [sample("r1", 0.9), sample("r2", 0.31), sample("r3", 0.45), sample("r4"), sample("r5", 0.59)]
    picks, skipped = select(samples, SelectionPolicy(confident_share=0.0, max_images=3), seed="x")
    assert [p.sample.request_id for p in picks] == ["r4", "r2", "r3"]  # least confident first: nothing found, 0.31
    assert [(s.request_id, s.reason) for s in skipped] == [("r5", "over the cap of 3")]


def test_a_share_of_confident_images_is_sampled_and_the_draw_repeats_with_the_seed():
    samples = [sample(f"r{i}", 0.95) for i in range(1, 41)]
    policy = SelectionPolicy(confident_share=0.25, max_images=100, near_duplicate_bits=0)
    first, _ = select(samples, policy, seed="export-1")
    again, _ = select(samples, policy, seed="export-1")
    assert 3 <= len(first) <= 20 and [p.sample for p in first] == [p.sample for p in again]
    assert all(p.reasons == ("random sample of confident images (top score 0.95)",) for p in first)
    assert select(samples, SelectionPolicy(confident_share=0.0), seed="export-1")[0] == []


def test_near_duplicates_and_images_the_collector_did_not_keep_are_skipped_with_the_reason():
    image, _ = scene(7)
    recompressed = io.BytesIO()
    Image.open(io.BytesIO(image)).save(recompressed, "JPEG", quality=75)
    samples = [sample("r1", 0.4, image=image), sample("r2", 0.41, image=recompressed.getvalue()),
               sample("r3", 0.42, image=None), sample("r4", 0.43)]
    picks, skipped = select(samples, POLICY, seed="x")
    assert [p.sample.request_id for p in picks] == ["r1", "r4"]  # r1's 0.40 goes first: r2 is its copy
    reasons = {s.request_id: s.reason for s in skipped}
    assert reasons["r2"] == f"near-duplicate of {'r1':0>64}"[:len("near-duplicate of ") + 12]
    assert reasons["r3"].endswith("not kept by the collector (hash only)")


def test_difference_hash_tells_scenes_apart_and_ignores_recompression():
    a, b = scene(1)[0], scene(2)[0]
    again = io.BytesIO()
    Image.open(io.BytesIO(a)).save(again, "JPEG", quality=75)
    near = SelectionPolicy().near_duplicate_bits
    assert bin(difference_hash(a) ^ difference_hash(again.getvalue())).count("1") <= near
    assert bin(difference_hash(a) ^ difference_hash(b)).count("1") > near


def test_per_project_overrides_and_their_errors():
    assert policy_for("cars", POLICY, '{"cars": {"max_images": 5}}').max_images == 5
    assert policy_for("boats", POLICY, '{"cars": {"max_images": 5}}') == POLICY
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['max'\]"):
        policy_for("cars", POLICY, '{"cars": {"max": 5}}')
    with pytest.raises(ValueError, match="not valid JSON"):
        policy_for("cars", POLICY, "{")
