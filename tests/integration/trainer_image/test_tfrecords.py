"""TFRecords in the OD API's format, decoded by the OD API's own decoder; the shard cache on Azurite."""

import io

import numpy as np
from PIL import Image

from local_mode.demo_data import jpeg_bytes, make_scene, vott_export
from shared.dataset.service import DatasetBuilder
from trainer_image.tf_compat import tf
from trainer_image.tfrecords import ShardBuilder, ShardCache, example_for

from object_detection.core import standard_fields as fields  # isort: skip
from object_detection.data_decoders.tf_example_decoder import TfExampleDecoder  # isort: skip


def manifest_for(blob_store, settings, project, files):
    blob_store.ensure_container(settings.datasets_container)
    for name, data in files.items():
        blob_store.write(settings.datasets_container, f"{project}/{name}", data)
    return DatasetBuilder(blob_store, settings).build(project)


def decode(serialized: bytes) -> dict:
    decoded = TfExampleDecoder(load_instance_masks=False).decode(tf.constant(serialized))
    return {k: v.numpy() for k, v in decoded.items()}


def test_examples_round_trip_through_the_od_api_decoder(blob_store, settings):
    for entry in manifest_for(blob_store, settings, "rt", vott_export(4, seed=1, size=96)).entries():
        data = blob_store.read(settings.datasets_container, entry["image"]["name"]).data
        decoded = decode(example_for(entry, data).SerializeToString())
        boxes = np.array([[o["bbox"][1] / 96, o["bbox"][0] / 96, o["bbox"][3] / 96, o["bbox"][2] / 96]
                          for o in entry["objects"]])
        np.testing.assert_allclose(decoded[fields.InputDataFields.groundtruth_boxes], boxes, atol=1e-6)
        assert list(decoded[fields.InputDataFields.groundtruth_classes]) == [o["label"] for o in entry["objects"]]
        assert decoded[fields.InputDataFields.image].shape == (96, 96, 3)
        assert decoded[fields.InputDataFields.source_id].decode() == entry["image"]["name"]


def test_exif_rotated_images_are_stored_upright(blob_store, settings):
    image, shapes = make_scene(__import__("random").Random(2), 80, 1)
    stored = image.crop((0, 0, 80, 50))
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated: 50 wide, 80 high
    from local_mode.demo_data import voc_xml
    files = {"a.jpg": jpeg_bytes(stored, exif=exif.tobytes()),
             "a.xml": voc_xml("a.jpg", 50, 80, [shapes[0].__class__("circle", 5, 5, 20, 30)])}
    (entry,) = manifest_for(blob_store, settings, "exif", files).entries()
    assert (entry["width"], entry["height"], entry["image"]["orientation"]) == (50, 80, 6)
    decoded = decode(example_for(entry, files["a.jpg"]).SerializeToString())
    assert decoded[fields.InputDataFields.image].shape == (80, 50, 3)
    assert Image.open(io.BytesIO(example_for(entry, files["a.jpg"]).features.feature[
        "image/encoded"].bytes_list.value[0])).size == (50, 80)


def test_a_retrain_converts_only_new_or_relabelled_images(blob_store, settings, tmp_path):
    cache = ShardCache(blob_store, settings.manifests_container, "inc/tfrecord-cache")
    builder = ShardBuilder(blob_store.read, cache, shard_size=8)
    first = manifest_for(blob_store, settings, "inc", vott_export(30, seed=3))
    full = builder.build(first.manifest, first.entries, tmp_path / "a")
    assert (full.converted, full.reused) == (30, 0)

    grown = manifest_for(blob_store, settings, "inc", vott_export(3, seed=4, start=100))
    assert grown.manifest["counts"]["images"] == 33
    again = builder.build(grown.manifest, grown.entries, tmp_path / "b")
    assert (again.converted, again.reused) == (3, 30)
    records = sum(1 for split in again.files.values() for path in split for _ in tf.data.TFRecordDataset(path))
    assert records == 33


def test_reused_shards_are_read_in_place_from_a_local_cache_folder(blob_store, settings, tmp_path):
    cache = ShardCache(blob_store, settings.manifests_container, "loc/tfrecord-cache", tmp_path / "cache")
    builder = ShardBuilder(blob_store.read, cache, shard_size=8)
    first = manifest_for(blob_store, settings, "loc", vott_export(20, seed=6))
    builder.build(first.manifest, first.entries, tmp_path / "a")
    grown = manifest_for(blob_store, settings, "loc", vott_export(2, seed=7, start=50))
    again = builder.build(grown.manifest, grown.entries, tmp_path / "b")
    reused = [p for split in again.files.values() for p in split if p.startswith(str(tmp_path / "cache"))]
    assert len(reused) == again.shards_reused > 0
    assert sum(1 for split in again.files.values() for path in split for _ in tf.data.TFRecordDataset(path)) == 22


def test_a_read_only_mounted_cache_is_read_in_place_and_never_written(blob_store, settings, tmp_path):
    """Azure ML mounts the project's cache read-only: reused shards come from the mount, new ones go to Blob."""
    writer = ShardBuilder(blob_store.read, ShardCache(blob_store, settings.manifests_container, "ro/tfrecord-cache"),
                          shard_size=8)
    first = manifest_for(blob_store, settings, "ro", vott_export(20, seed=16))
    writer.build(first.manifest, first.entries, tmp_path / "a")
    mount = tmp_path / "mount"  # what the job sees: the cache folder's blobs as files, not writable
    mount.mkdir()
    for info in blob_store.list(settings.manifests_container, "ro/tfrecord-cache/"):
        (mount / info.name.rsplit("/", 1)[1]).write_bytes(blob_store.read(settings.manifests_container, info.name).data)
    before = sorted(mount.iterdir())
    mount.chmod(0o555)
    try:
        mounted = ShardCache(blob_store, settings.manifests_container, "ro/tfrecord-cache", mount,
                             local_read_only=True)
        grown = manifest_for(blob_store, settings, "ro", vott_export(2, seed=17, start=50))
        again = ShardBuilder(blob_store.read, mounted, shard_size=8).build(grown.manifest, grown.entries,
                                                                           tmp_path / "b")
    finally:
        mount.chmod(0o755)
    reused = [p for split in again.files.values() for p in split if p.startswith(str(mount))]
    assert len(reused) == again.shards_reused > 0 and again.converted == 2
    assert sorted(mount.iterdir()) == before  # nothing written into the mount
    assert len(list(blob_store.list(settings.manifests_container, "ro/tfrecord-cache/"))) == len(before) + \
        again.shards_written


def test_images_deleted_or_changed_since_the_manifest_are_left_out_and_named(blob_store, settings, tmp_path, caplog):
    """A person's edit between the snapshot and the trainer's read is not a fault: the run trains the rest and
    says what it left out (the ledger has the edit: the next run trains it as it is then). Found by the chaos soak:
    a deletion during a run failed the run as an infrastructure fault, retried until its attempts ran out."""
    build = manifest_for(blob_store, settings, "chg", vott_export(4, seed=5))
    changed, deleted = [e["image"]["name"] for e in build.entries()][:2]
    blob_store.write(settings.datasets_container, changed, jpeg_bytes(make_scene(__import__("random").Random(9))[0]))
    blob_store.delete(settings.datasets_container, deleted)
    builder = ShardBuilder(blob_store.read, ShardCache(None, "", ""))
    with caplog.at_level("WARNING"):
        stats = builder.build(build.manifest, build.entries, tmp_path)
    assert stats.converted == 2 and sum(len(files) for files in stats.files.values()) >= 1
    reasons = {item["image"]: item["reason"] for item in stats.left_out}
    assert reasons[deleted] == "deleted since the manifest was taken"
    assert reasons[changed].startswith("content changed since the manifest was taken (MD5 differs")
    written = sum(1 for files in stats.files.values() for f in files
                  for _ in tf.data.TFRecordDataset(f).as_numpy_iterator())
    assert written == 2
    line = next(r for r in caplog.records if r.getMessage() == "images left out")
    assert line.count == 2
