"""YOLO label files and class lists."""

import pytest

from shared.dataset.formats.yolo import parse_class_list, parse_labels
from shared.dataset.problems import Rejected


def test_centre_boxes_crlf_bom_and_polygons():
    labels = parse_labels(b"\xef\xbb\xbf0 0.5 0.5 0.2 0.4\r\n\r\n2 0.1 0.1 0.3 0.1 0.2 0.3\r\n", max_bytes=1000)
    first, second = labels
    assert (first.line, first.class_id) == (1, 0)
    assert first.box == pytest.approx((0.4, 0.3, 0.6, 0.7))
    assert (second.line, second.class_id, second.box) == (3, 2, (0.1, 0.1, 0.3, 0.3))
    assert "polygon" in second.note
    assert parse_labels(b"", max_bytes=10) == []  # a background image


@pytest.mark.parametrize(("text", "field", "words"), [
    (b"0 0.5 0.5 0.2\n", "line 1", "found 4 values"),
    (b"0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2 0.9\n", "line 2", "found 6 values"),
    (b"cat 0.5 0.5 0.2 0.2\n", "line 1", "'cat' is not a whole number"),
    (b"0 0.5 nan 0.2 0.2\n", "line 1", "not a finite number"),
    (b"\xff\xfe0\n", "encoding", "not UTF-8"),
])
def test_lines_that_are_not_labels_name_the_line(text, field, words):
    with pytest.raises(Rejected) as info:
        parse_labels(text, max_bytes=1000)
    assert info.value.field == field and words in info.value.reason


def test_class_lists_in_every_spelling():
    assert parse_class_list("data.yaml", b"path: .\ntrain: images/train\nnames: [cat, dog]\n",
                            max_bytes=1000) == {0: "cat", 1: "dog"}
    assert parse_class_list("data.yaml", b"names:\n  0: cat\n  2: dog\n", max_bytes=1000) == {0: "cat", 2: "dog"}
    assert parse_class_list("obj.names", b"cat\r\ndog\r\n\r\n", max_bytes=1000) == {0: "cat", 1: "dog"}
    with pytest.raises(Rejected) as info:
        parse_class_list("classes.txt", b"cat\n\ndog\n", max_bytes=1000)
    assert info.value.field == "line 2" and "shift" in info.value.reason
    with pytest.raises(Rejected) as info:
        parse_class_list("data.yaml", b"a: &x [1, 2]\nnames: *x\n", max_bytes=1000)
    assert "aliases" in info.value.reason
    with pytest.raises(Rejected) as info:
        parse_class_list("data.yaml", b"nc: 2\n", max_bytes=1000)
    assert info.value.field == "names"
