"""Objects that flipped between the champion and a challenger: found by one, missed by the other, matched by class
name (the two may number their classes differently), counted per class and cropped."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from local_mode.demo_data import jpeg_bytes
from trainer_image.flips import CROP, SHOWN, flips, strip, summary, wanted_images
from trainer_image.validation_pass import Seen

DOG, CAT = (0.1, 0.1, 0.4, 0.4), (0.5, 0.5, 0.9, 0.9)  # xmin, ymin, xmax, ymax


def seen(name: str, found: list[tuple[tuple[float, ...], int, float]]) -> Seen:
    """An image with a dog and a cat, and what a model detected on it (class ids, scores)."""
    boxes = [[b[1], b[0], b[3], b[2]] for b, _, _ in found]  # detections are ymin, xmin, ymax, xmax
    return Seen(name, (100, 100), np.array([DOG, CAT], np.float32), ["dog", "cat"], {
        "detection_boxes": np.array(boxes, np.float32).reshape(-1, 4),
        "detection_classes": np.array([c for _, c, _ in found], np.float32),
        "detection_scores": np.array([s for _, _, s in found], np.float32)})


MINE = {1: "cat", 2: "dog"}
THEIRS = {1: "dog", 2: "cat"}  # the champion's label map numbered them the other way round


def test_an_object_the_champion_found_and_the_challenger_misses_is_lost_and_the_reverse_gained():
    theirs = [seen("a.jpg", [(DOG, 1, 0.9)]), seen("b.jpg", [(DOG, 1, 0.8), (CAT, 2, 0.7)])]
    mine = [seen("a.jpg", [(DOG, 2, 0.3), (CAT, 1, 0.9)]),  # the dog too unsure now, the cat found
            seen("b.jpg", [(DOG, 2, 0.9), (CAT, 2, 0.9)])]  # the cat's box now called a dog
    changed = flips(mine, theirs, MINE, THEIRS)
    assert [(f.image, f.name, f.kind) for f in changed] == [("a.jpg", "dog", "lost"), ("a.jpg", "cat", "gained"),
                                                            ("b.jpg", "cat", "lost")]
    figures = summary(changed, 2)
    assert (figures["lost"], figures["gained"], figures["images"]) == ({"cat": 1, "dog": 1}, {"cat": 1}, 2)
    assert [s["kind"] for s in figures["shown"]] == ["lost", "lost", "gained"]


def test_the_same_objects_found_by_both_is_no_change_and_no_picture():
    both = [seen("a.jpg", [(DOG, 1, 0.9), (CAT, 2, 0.9)])]
    changed = flips([seen("a.jpg", [(DOG, 2, 0.6), (CAT, 1, 0.8)])], both, MINE, THEIRS)
    assert changed == [] and summary(changed, 1)["lost"] == {}
    assert strip(changed, {}, [], [], MINE, THEIRS) is None


def test_the_strip_crops_a_handful_of_each_kind_from_the_images_read_again():
    theirs = [seen(f"{i}.jpg", [(DOG, 1, 0.9)]) for i in range(SHOWN + 3)]
    mine = [seen(f"{i}.jpg", []) for i in range(SHOWN + 3)]
    changed = flips(mine, theirs, MINE, THEIRS)
    wanted = wanted_images(changed)
    assert wanted == set(range(SHOWN))  # only what the strip shows is read again
    image = jpeg_bytes(Image.new("RGB", (100, 100), (200, 200, 200)))
    sheet = Image.open(io.BytesIO(strip(changed, {i: image for i in wanted}, mine, theirs, MINE, THEIRS)))
    assert sheet.size == (CROP * SHOWN, 2 * (CROP + 16))
    first = np.asarray(sheet.convert("RGB"))[16:16 + CROP, :CROP]
    assert ((first[..., 1] > 180) & (first[..., 0] < 80)).any(), "the true box is drawn in green"
