import pytest

from shared.dataset.label_map import LabelMap, LabelMapItem
from shared.dataset.problems import Rejected

VOTT_STYLE = """
# written by VoTT
item {
  id: 1
  name: 'cat'
}
item {
    id: 2
    name: "dog"
    display_name: "Dog (any breed)"
    frequency: FREQUENT
    keypoints { id: 0 label: "nose" }
}
"""


def test_parses_the_od_api_text_format():
    label_map = LabelMap.parse(VOTT_STYLE)
    assert label_map.items == (LabelMapItem(1, "cat"), LabelMapItem(2, "dog", "Dog (any breed)"))


def test_round_trips_with_display_names_and_quotes():
    label_map = LabelMap((LabelMapItem(1, "o'brien"), LabelMapItem(3, "dog", "Dog")))
    assert LabelMap.parse(label_map.to_pbtxt()) == label_map


def test_growing_keeps_every_id_and_appends_new_ones():
    first = LabelMap.parse(VOTT_STYLE)
    grown = first.extended(["bird", "cat", "ant"])
    assert [(i.id, i.name) for i in grown.items] == [(1, "cat"), (2, "dog"), (3, "bird"), (4, "ant")]
    # a later upload whose own label map numbers things differently cannot renumber
    renumbered = LabelMap((LabelMapItem(1, "dog"), LabelMapItem(2, "cat"), LabelMapItem(3, "eel", "Eel")))
    merged = grown.merged(renumbered)
    assert [(i.id, i.name) for i in merged.items] == [(1, "cat"), (2, "dog"), (3, "bird"), (4, "ant"), (5, "eel")]
    assert merged.items[-1].display_name == "Eel"


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("item { id: 1 name: 'a' } item { id: 1 name: 'b' }", "item/id", "duplicate ids"),
        ("item { id: 1 name: 'a' } item { id: 2 name: 'a' }", "item/name", "duplicate names"),
        ("item { id: 0 name: 'a' }", "item/id", "0 is the background"),
        ("item { name: 'a' }", "item[1]", "needs both id and name"),
        ("item { id: x name: 'a' }", "item[1]/id", "not an integer"),
        ("thing { id: 1 }", "item[1]", "expected 'item {'"),
        ("item { id: 1 name: 'a' ", "item[1]", "expected '}'"),
        ("item { id: 1 name: 'a' } $", "line 1", "unexpected text"),
    ],
)
def test_bad_label_maps_name_the_item(text, field, words):
    with pytest.raises(Rejected) as info:
        LabelMap.parse(text)
    assert info.value.field == field and words in info.value.reason
