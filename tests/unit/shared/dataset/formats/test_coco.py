"""COCO detection JSON, with the quirks real exports have."""

import pytest

from shared.dataset.formats.coco import read_coco
from shared.dataset.problems import Rejected


def doc(**parts):
    return {"images": [], "annotations": [], "categories": []} | parts


def test_category_ids_that_skip_numbers_and_subfolder_file_names():
    read = read_coco(doc(
        images=[{"id": 10, "file_name": "train/a.jpg", "width": 64, "height": 48},
                {"id": 11, "file_name": "train/b.jpg", "width": 64, "height": 48}],
        categories=[{"id": 0, "name": "shapes", "supercategory": "none"}, {"id": 3, "name": "circle"},
                    {"id": 7, "name": "square"}],
        annotations=[{"id": 1, "image_id": 10, "category_id": 7, "bbox": [2, 3, 10, 20], "iscrowd": 0},
                     {"id": 2, "image_id": 10, "category_id": 3, "bbox": [20, 5, 4.5, 4], "iscrowd": 0}]),
        "_annotations.coco")
    first, second = read.items
    assert (first.ref, first.size) == ("train/a.jpg", (64, 48))
    assert [(b.name, b.xmin, b.ymin, b.xmax, b.ymax) for b in first.objects] == [
        ("square", 2, 3, 12, 23), ("circle", 20, 5, 24.5, 9)]
    assert first.fields == ("annotations[id=1]/bbox", "annotations[id=2]/bbox")
    assert (second.ref, second.objects) == ("train/b.jpg", ())  # no annotation: background


def test_crowd_boxes_are_skipped_and_polygons_give_boxes_with_warnings():
    read = read_coco(doc(
        images=[{"id": 1, "file_name": "a.jpg", "width": 64, "height": 64}],
        categories=[{"id": 1, "name": "person"}],
        annotations=[{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 50], "iscrowd": 1},
                     {"id": 6, "image_id": 1, "category_id": 1, "segmentation": [[10, 10, 30, 12, 20, 40]],
                      "iscrowd": 0}]), "instances_val2017")
    (item,) = read.items
    assert [(b.xmin, b.ymin, b.xmax, b.ymax) for b in item.objects] == [(10, 10, 30, 40)]
    assert [f for f, _ in item.notes] == ["annotations[id=5]/iscrowd", "annotations[id=6]/bbox"]
    assert item.split == "validation"  # the file is the validation split's


def test_an_unknown_category_refuses_its_image_only():
    read = read_coco(doc(
        images=[{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        categories=[{"id": 1, "name": "cat"}],
        annotations=[{"id": 9, "image_id": 1, "category_id": 4, "bbox": [1, 1, 5, 5]},
                     {"id": 10, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]},
                     {"id": 11, "image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]}]), "x")
    bad, good = read.items
    assert bad.rejected == ("annotations[id=9]/category_id", "4 is not one of this file's categories (ids 1)")
    assert good.rejected is None and len(good.objects) == 1
    assert read.warnings == [("annotations[id=11]/image_id", "99 is not an image of this file: annotation not used")]


@pytest.mark.parametrize(("stem", "parts", "words"), [
    ("captions_train2017", {"annotations": [{"image_id": 1, "id": 1, "caption": "a cat"}]}, "captions"),
    ("person_keypoints_train2017", {"categories": [{"id": 1, "name": "person", "keypoints": ["nose"]}]},
     "keypoints"),
    ("panoptic_val2017", {"annotations": [{"image_id": 1, "file_name": "1.png", "segments_info": []}]}, "panoptic"),
    ("stuff_val2017", {}, "stuff"),
])
def test_files_that_are_not_detection_annotations_are_ignored_with_why(stem, parts, words):
    read = read_coco(doc(images=[{"id": 1, "file_name": "a.jpg"}], **parts), stem)
    assert read.items == [] and words in read.ignored


def test_broken_structure_is_refused_with_the_field():
    with pytest.raises(Rejected) as info:
        read_coco(doc(categories=[{"id": 1, "name": ""}]), "x")
    assert info.value.field == "categories[0]/name"
    with pytest.raises(Rejected) as info:
        read_coco(doc(images={"id": 1}), "x")
    assert info.value.field == "images"
    bad_box = read_coco(doc(images=[{"id": 1, "file_name": "a.jpg"}], categories=[{"id": 1, "name": "c"}],
                            annotations=[{"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, "x", 2, 2]}]), "x")
    assert bad_box.items[0].rejected == ("annotations[id=2]/bbox[1]", "'x' is not a number")
