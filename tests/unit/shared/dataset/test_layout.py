from shared.dataset.layout import class_from_filename, discover, pairing_key
from shared.ports import BlobInfo


def blobs(*names: str) -> list[BlobInfo]:
    return [BlobInfo(name, '"0x1"', 10) for name in names]


def test_vott_export_pairs_annotations_with_jpegimages():
    layout = discover(blobs(
        "p/vott-export/Annotations/a.xml", "p/vott-export/JPEGImages/a.jpg",
        "p/vott-export/JPEGImages/b.jpg", "p/vott-export/pascal_label_map.pbtxt",
        "p/vott-export/ImageSets/Main/cat_train.txt",
    ), "p/")
    assert layout.kind == "vott-pascal-voc"
    pairs = {p.key: ([b.name for b in p.images], [b.name for b in p.annotations]) for p in layout.pairs}
    assert pairs == {
        "vott-export/a": (["p/vott-export/JPEGImages/a.jpg"], ["p/vott-export/Annotations/a.xml"]),
        "vott-export/b": (["p/vott-export/JPEGImages/b.jpg"], []),
    }
    assert [b.name for b in layout.label_maps] == ["p/vott-export/pascal_label_map.pbtxt"]
    ignored = [(b.name, "split" in why) for b, why in layout.ignored]
    assert ignored == [("p/vott-export/ImageSets/Main/cat_train.txt", True)]


def test_flat_folder_and_unknown_files_are_listed_not_dropped():
    layout = discover(blobs("p/x.JPG", "p/x.xml", "p/notes.md", "p/dataset.json"), "p/")
    assert layout.kind == "flat"
    assert pairing_key("x.JPG") == "x"
    assert layout.config and layout.config.name == "p/dataset.json"
    assert [(b.name, "not an image" in why) for b, why in layout.ignored] == [("p/notes.md", True)]


def test_oxford_pets_layout_takes_classes_from_file_names():
    layout = discover(blobs("p/images/Abyssinian_12.jpg", "p/annotations/xmls/Abyssinian_12.xml",
                            "p/annotations/trimaps/Abyssinian_12.png"), "p/")
    assert layout.kind == "oxford-pets"
    assert layout.default_class_source == "filename"
    assert len(layout.pairs) == 1 and layout.pairs[0].annotations
    assert "trimaps" in layout.ignored[0][1]


def test_class_from_filename():
    assert class_from_filename("images/Abyssinian_12.jpg") == "Abyssinian"
    assert class_from_filename("great_pyrenees_3.jpg") == "great_pyrenees"
    assert class_from_filename("plain.jpg") == "plain"


def test_a_pascal_voc_distribution_trains_on_jpegimages_only():
    """VOC2007/VOC2012 as distributed: segmentation masks are PNGs beside JPEGImages/, and must never be taken
    for background training images."""
    layout = discover(blobs(
        "p/VOC2012/Annotations/2007_000032.xml", "p/VOC2012/JPEGImages/2007_000032.jpg",
        "p/VOC2012/JPEGImages/2007_000039.jpg", "p/VOC2012/ImageSets/Segmentation/train.txt",
        "p/VOC2012/SegmentationClass/2007_000032.png", "p/VOC2012/SegmentationObject/2007_000032.png",
        "p/VOC2012/Thumbnails/2007_000032.jpg", "p/extra.jpg", "p/extra.xml",
    ), "p/")
    images = sorted(b.name for pair in layout.pairs for b in pair.images)
    assert images == ["p/VOC2012/JPEGImages/2007_000032.jpg", "p/VOC2012/JPEGImages/2007_000039.jpg",
                      "p/extra.jpg"]
    reasons = {b.name.split("/")[2]: why for b, why in layout.ignored}
    assert "segmentation masks (class colours)" in reasons["SegmentationClass"]
    assert "segmentation masks (object instances)" in reasons["SegmentationObject"]
    assert reasons["Thumbnails"] == "in a Pascal VOC tree only JPEGImages/ holds training images"
    assert "split" in reasons["ImageSets"]
