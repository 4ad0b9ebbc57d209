from shared.clock import normalized_time
from shared.events import BlobEvent
from shared.ledger import Pending, is_dataset_file, ledger_row, project_of, row_key


def event(blob="p/a.jpg", etag="e1", kind="created", seq="01", event_id="x", second=0) -> BlobEvent:
    return BlobEvent(event_id, kind, "topic", "datasets", blob, etag if kind == "created" else None, seq,
                     f"2026-11-25T12:00:{second:02d}.1234567Z")


def test_redelivery_is_the_same_row_and_new_content_a_new_one():
    assert row_key(event(event_id="first")) == row_key(event(event_id="redelivered"))
    assert row_key(event(etag="e2")) != row_key(event())
    assert row_key(event(kind="deleted", seq="05")) != row_key(event(kind="deleted", seq="09"))


def test_projects_and_dataset_files():
    assert project_of("p/JPEGImages/a.jpg") == "p"
    assert project_of("loose.jpg") is None
    assert is_dataset_file("p/a.JPG") and is_dataset_file("p/x/y.xml") and is_dataset_file("p/dataset.json")
    assert is_dataset_file("p/notes.txt") and is_dataset_file("p/train/_annotations.coco.json")  # YOLO, COCO
    assert not is_dataset_file("p/notes.csv") and not is_dataset_file("p/README.roboflow.txt")


def test_a_redelivered_event_makes_an_identical_row():
    assert ledger_row(event(), "p") == ledger_row(event(), "p")
    assert ledger_row(event(), "p")["event_time"] == "2026-11-25T12:00:00.123456Z"  # Azure's 7 digits, fixed


def test_times_in_other_forms_are_normalized():
    assert normalized_time("2026-11-25T13:00:00+01:00") == "2026-11-25T12:00:00.000000Z"
    assert normalized_time("2026-11-25T12:00:00Z") == "2026-11-25T12:00:00.000000Z"


def test_pending_counts_the_latest_change_of_each_blob_by_sequencer():
    rows = [ledger_row(event("p/a.jpg", "e1", seq="01", second=0), "p"),
            ledger_row(event("p/a.jpg", kind="deleted", seq="03", second=5), "p"),
            ledger_row(event("p/a.jpg", "e2", seq="02", second=9), "p"),  # delivered last, yet older
            ledger_row(event("p/b.jpg", "e1", seq="04", second=2), "p"),
            ledger_row(event("p/b.xml", "e1", seq="05", second=3), "p")]
    pending = Pending.of(rows)
    assert (pending.changes, pending.images) == (3, 1)  # a.jpg ends deleted; b.jpg is new; b.xml is a label
    assert (pending.first, pending.last) == ("2026-11-25T12:00:00.123456Z", "2026-11-25T12:00:09.123456Z")


def test_segmentation_masks_and_split_lists_are_not_changes_to_train_on():
    from shared.ledger import is_dataset_file

    assert is_dataset_file("p/VOC2012/JPEGImages/a.jpg") and is_dataset_file("p/VOC2012/Annotations/a.xml")
    assert not is_dataset_file("p/VOC2012/SegmentationClass/a.png")
    assert not is_dataset_file("p/VOC2012/SegmentationObject/a.png")
    assert not is_dataset_file("p/VOC2012/ImageSets/Main/train.txt")
