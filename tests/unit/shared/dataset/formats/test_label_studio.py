"""Label Studio's JSON export."""

import pytest

from shared.dataset.formats.label_studio import read_label_studio


def rect(x, y, w, h, label="cat", rotation=0, width=200, height=100):
    return {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": width,
            "original_height": height, "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]}}


def test_percent_boxes_the_latest_annotation_and_unlabelled_tasks():
    tasks = [
        {"id": 1, "data": {"image": "/data/upload/3/1a2b3c4d-a.jpg"}, "annotations": [
            {"id": 10, "updated_at": "2026-01-01T00:00:00Z", "was_cancelled": False, "result": [rect(10, 20, 5, 30)]},
            {"id": 11, "updated_at": "2026-02-01T00:00:00Z", "was_cancelled": False,
             "result": [rect(50, 0, 50, 50, "Dog"), {"type": "polygonlabels", "value": {}}]},
            {"id": 12, "updated_at": "2026-03-01T00:00:00Z", "was_cancelled": True, "result": []}]},
        {"id": 2, "data": {"image": "b.jpg"}, "annotations": [], "predictions": [{"result": [rect(1, 1, 1, 1)]}]},
        {"id": 3, "data": {"image": "c.jpg"}, "annotations": [{"id": 30, "result": []}]},
    ]
    latest, unlabelled, background = read_label_studio(tasks).items
    assert (latest.ref, latest.where, latest.size) == ("/data/upload/3/1a2b3c4d-a.jpg", "task 1/annotation 11",
                                                       (200, 100))
    assert [(b.name, b.xmin, b.ymin, b.xmax, b.ymax) for b in latest.objects] == [("Dog", 100, 0, 200, 50)]
    assert latest.notes == (("result", "not boxes, not used: 1 polygonlabels"),)
    assert unlabelled.unlabelled and not unlabelled.objects  # not trained as background
    assert (background.unlabelled, background.objects, background.rejected) == (None, (), None)


def test_rotated_rectangles_become_the_box_around_them():
    (item,) = read_label_studio([{"id": 1, "data": {"image": "a.jpg"}, "annotations": [
        {"id": 1, "result": [rect(10, 10, 20, 10, rotation=90, width=100, height=100)]}]}]).items
    (box,) = item.objects
    assert (box.xmin, box.ymin, box.xmax, box.ymax) == pytest.approx((0, 10, 10, 30))
    assert "rotated 90°" in item.notes[0][1]


def test_a_box_without_its_image_size_refuses_the_task():
    broken = rect(1, 1, 5, 5)
    del broken["original_width"]
    (item,) = read_label_studio([{"id": 4, "data": {"image": "a.jpg"},
                                  "annotations": [{"id": 1, "result": [broken]}]}]).items
    assert item.rejected == ("result[0]/original_width", "missing: percent boxes need the image's size")
