from shared.dataset.layout import (
    class_from_filename,
    folder_of,
    is_stray,
    layout_kind,
    other_reason,
    pairing_key,
    role_of,
    voc_roots,
)


def test_vott_export_pairs_annotations_with_jpegimages():
    names = ["vott-export/Annotations/a.xml", "vott-export/JPEGImages/a.jpg", "vott-export/JPEGImages/b.jpg"]
    assert [pairing_key(n) for n in names] == ["vott-export/a", "vott-export/a", "vott-export/b"]
    assert [role_of(n) for n in names] == ["pair"] * 3
    assert layout_kind(folder_of(n) for n in names) == "vott-pascal-voc"
    assert role_of("vott-export/pascal_label_map.pbtxt") == "label_map"
    assert role_of("vott-export/ImageSets/Main/cat_train.txt") == "other"
    assert "split" in other_reason("vott-export/ImageSets/Main/cat_train.txt")


def test_flat_folder_and_unknown_files_are_listed_not_dropped():
    assert layout_kind(folder_of(n) for n in ["x.JPG", "x.xml"]) == "flat"
    assert pairing_key("x.JPG") == pairing_key("x.xml") == "x"
    assert role_of("dataset.json") == "config" and role_of("sub/dataset.json") == "other"
    assert role_of("notes.md") == "other" and "not an image" in other_reason("notes.md")


def test_oxford_pets_layout_takes_classes_from_file_names():
    names = ["images/Abyssinian_12.jpg", "annotations/xmls/Abyssinian_12.xml"]
    assert pairing_key(names[0]) == pairing_key(names[1]) == "Abyssinian_12"
    assert layout_kind(folder_of(n) for n in names) == "oxford-pets"
    assert role_of("annotations/trimaps/Abyssinian_12.png") == "other"
    assert "trimaps" in other_reason("annotations/trimaps/Abyssinian_12.png")


def test_class_from_filename():
    assert class_from_filename("images/Abyssinian_12.jpg") == "Abyssinian"
    assert class_from_filename("great_pyrenees_3.jpg") == "great_pyrenees"
    assert class_from_filename("plain.jpg") == "plain"


def test_a_pascal_voc_distribution_trains_on_jpegimages_only():
    """VOC2007/VOC2012 as distributed: segmentation masks are PNGs beside JPEGImages/, and must never be taken
    for background training images."""
    roots = voc_roots(folder_of(n) for n in ["VOC2012/Annotations/2007_000032.xml",
                                             "VOC2012/JPEGImages/2007_000032.jpg"])
    assert roots == {"voc2012"}
    assert not is_stray("VOC2012/JPEGImages/2007_000039.jpg", roots)
    assert is_stray("VOC2012/Thumbnails/2007_000032.jpg", roots)
    assert not is_stray("extra.jpg", roots) and not is_stray("VOC2012/Thumbnails/notes.xml", roots)
    assert "segmentation masks (class colours)" in other_reason("VOC2012/SegmentationClass/2007_000032.png")
    assert "segmentation masks (object instances)" in other_reason("VOC2012/SegmentationObject/2007_000032.png")
    assert "split" in other_reason("VOC2012/ImageSets/Segmentation/train.txt")
