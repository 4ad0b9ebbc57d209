"""CVAT for images 1.1 XML."""

import pytest

from shared.dataset.formats.cvat import read_cvat
from shared.dataset.problems import Rejected

XML = b"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <image id="0" name="a.jpg" subset="Train" width="64" height="48">
    <box label="cat" source="manual" occluded="0" xtl="2.5" ytl="3" xbr="12" ybr="23" z_order="0"/>
    <box label="dog" xtl="10" ytl="10" xbr="20" ybr="20" rotation="90"/>
    <polygon label="cat" points="1,1;5,5;1,5"/>
    <points label="cat" points="3,3"/>
  </image>
  <image id="1" name="a.jpg" subset="Test" width="64" height="48"></image>
  <image id="2" name="c.jpg" width="64" height="48"><box label=" " xtl="1" ytl="1" xbr="5" ybr="5"/></image>
</annotations>"""


def test_boxes_subsets_and_shapes_that_are_not_boxes():
    first, second, third = read_cvat(XML, 10_000).items
    assert (first.ref, first.size, first.split, first.subset) == ("a.jpg", (64, 48), "train", "Train")
    assert [(b.name, b.xmin, b.ymin, b.xmax, b.ymax) for b in first.objects] == [
        ("cat", 2.5, 3, 12, 23), ("dog", 10, 10, 20, 20)]
    assert dict(first.notes) == {"box[1]/rotation": "rotated 90°: the axis-aligned box around it is used",
                                 "shapes": "not boxes, not used: 1 points, 1 polygon"}
    assert (second.ref, second.split, second.objects) == ("a.jpg", "test", ())  # same name, another subset
    assert third.rejected == ("box[0]/label", "empty label: every box needs a class")


@pytest.mark.parametrize(("data", "field"), [
    (b"<annotations><track id='0' label='cat'/></annotations>", "track"),
    (b"<annotation><object/></annotation>", "annotation"),
    (b'<!DOCTYPE a [<!ENTITY x "y">]><annotations/>', "DOCTYPE"),
])
def test_video_exports_other_roots_and_entities_are_refused(data, field):
    with pytest.raises(Rejected) as info:
        read_cvat(data, 10_000)
    assert info.value.field == field
