import pytest

from shared.dataset.images import ImageFacts
from shared.dataset.problems import Rejected
from shared.dataset.records import build_record
from shared.dataset.voc import Box, VocAnnotation

IMAGE = ImageFacts("JPEG", 100, 80)


def same(name: str) -> str:
    return name


def annotation(*objects: Box, size=(100, 80)) -> VocAnnotation:
    return VocAnnotation("a.jpg", size, objects)


def test_boxes_spilling_outside_are_clipped_and_reported():
    record = build_record(annotation(Box("cat", -4.5, 10, 120, 60)), IMAGE, same)
    (box,) = record.boxes
    assert (box.xmin, box.ymin, box.xmax, box.ymax) == (0, 10, 100, 60)
    ((field, note),) = record.notes
    assert field == "object[1]/bndbox" and "spills outside the 100x80 image; clipped" in note


def test_missing_size_is_read_from_the_image_and_reported():
    record = build_record(annotation(Box("cat", 1, 1, 5, 5), size=None), IMAGE, same)
    assert (record.width, record.height) == (100, 80)
    assert record.notes == (("size", "missing; read from the image: 100x80"),)


@pytest.mark.parametrize(
    ("obj", "field", "words"),
    [
        (Box("cat", 50, 10, 20, 60), "object[1]/bndbox", "inverted box"),
        (Box("cat", 20, 10, 20, 60), "object[1]/bndbox", "zero-area box"),
        (Box("cat", 150, 10, 190, 60), "object[1]/bndbox", "lies outside the 100x80 image"),
    ],
)
def test_unusable_boxes_are_rejected(obj, field, words):
    with pytest.raises(Rejected) as info:
        build_record(annotation(obj), IMAGE, same)
    assert info.value.field == field and words in info.value.reason


def test_size_that_matches_neither_frame_is_rejected():
    with pytest.raises(Rejected) as info:
        build_record(annotation(Box("cat", 1, 1, 5, 5), size=(800, 600)), IMAGE, same)
    assert info.value.field == "size" and "says 800x600 but the image is 100x80" in info.value.reason


def test_exif_rotated_image_annotated_as_displayed_keeps_boxes():
    rotated = ImageFacts("JPEG", 100, 80, orientation=6)  # shown as 80x100
    record = build_record(annotation(Box("cat", 10, 20, 30, 90), size=(80, 100)), rotated, same)
    assert (record.width, record.height) == (80, 100)
    assert (record.boxes[0].xmin, record.boxes[0].ymax) == (10, 90)
    assert record.notes == ()


def test_exif_rotated_image_annotated_on_stored_pixels_is_converted():
    rotated = ImageFacts("JPEG", 100, 80, orientation=6)
    record = build_record(annotation(Box("cat", 10, 20, 30, 40), size=(100, 80)), rotated, same)
    box = record.boxes[0]
    assert (box.xmin, box.ymin, box.xmax, box.ymax) == (40, 10, 60, 30)  # (h - y, x) for orientation 6
    assert "boxes converted to the displayed frame" in record.notes[0][1]


def test_unknown_class_names_the_object():
    def known_only(name: str) -> str:
        if name != "cat":
            raise Rejected("name", f"class {name!r} is not in the label map (cat)")
        return name

    with pytest.raises(Rejected) as info:
        build_record(annotation(Box("cat", 1, 1, 5, 5), Box("dgo", 1, 1, 5, 5)), IMAGE, known_only)
    assert info.value.field == "object[2]/name" and "'dgo' is not in the label map" in info.value.reason
