"""Model-zoo archives: every way an archive can reach outside its folder or hide what it is, refused by name, and
the use case that unpacks a good one into the models container once."""

import gzip
import io
import json
import logging
import tarfile

import pytest

from shared.base_models import ArchiveError, ArchiveLimits, describe, unpack
from shared.pipeline.base_models import BaseModels, name_from
from shared.settings import Settings
from tests.fakes.memory import MemoryBlobStore

CONFIG = b"""model {
  ssd {
    num_classes: 90
    image_resizer { fixed_shape_resizer { height: 320 width: 320 } }
  }
}
train_config { batch_size: 64 }
"""


def archive(members: list[tuple[str, bytes | None, bytes]], top: str = "ssd_zoo") -> bytes:
    """A .tar.gz; a member is (name, link target or None, data); names are below `top/` unless absolute. The same
    members give the same bytes (gzip's header time fixed: two calls a second apart made two archives)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, link, data in members:
            info = tarfile.TarInfo(name if name.startswith(("/", "..")) or not top else f"{top}/{name}")
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link.decode()
            else:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if link is None else None)
    return gzip.compress(buffer.getvalue(), mtime=0)


def zoo(config: bytes = CONFIG) -> bytes:
    return archive([("pipeline.config", None, config), ("checkpoint/ckpt-0.index", None, b"index"),
                    ("checkpoint/ckpt-0.data-00000-of-00001", None, b"weights"), ("checkpoint/checkpoint", None,
                                                                                  b'model_checkpoint_path: "ckpt-0"'),
                    ("saved_model/saved_model.pb", None, b"pb")])


def test_a_zoo_archive_is_unpacked_below_its_folder_and_described():
    data = zoo()
    model = describe("ssd", "zoo.tar.gz", data, unpack(data))
    assert sorted(model.files) == ["checkpoint/checkpoint", "checkpoint/ckpt-0.data-00000-of-00001",
                                   "checkpoint/ckpt-0.index", "pipeline.config", "saved_model/saved_model.pb"]
    assert (model.architecture, model.input_size, model.num_classes) == ("ssd", "320x320", 90)
    assert len(model.sha256) == 64


@pytest.mark.parametrize("members, message", [
    ([("/etc/passwd", None, b"x")], "/etc/passwd: absolute path"),
    ([("../outside.txt", None, b"x")], "../outside.txt: path leaves the archive (..)"),
    ([("pipeline.config", b"/etc/passwd", b"")], "ssd_zoo/pipeline.config: links are not accepted "
                                                 "(points at /etc/passwd)"),
])
def test_members_reaching_outside_are_refused_by_name(members, message):
    with pytest.raises(ArchiveError) as refused:
        unpack(archive(members))
    assert str(refused.value) == message


def test_devices_too_many_members_and_too_many_bytes_are_refused():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        device = tarfile.TarInfo("m/dev0")
        device.type = tarfile.CHRTYPE
        tar.addfile(device)
    with pytest.raises(ArchiveError, match=r"^m/dev0: not a regular file or folder"):
        unpack(buffer.getvalue())
    many = archive([(f"f{i}", None, b"x") for i in range(5)])
    with pytest.raises(ArchiveError, match="more than 4 members"):
        unpack(many, ArchiveLimits(max_members=4))
    with pytest.raises(ArchiveError, match=r"ssd_zoo/f2: the archive unpacks to more than 2 bytes"):
        unpack(many, ArchiveLimits(max_bytes=2))
    with pytest.raises(ArchiveError, match="not a tar archive"):
        unpack(b"PK\x03\x04 a zip")


@pytest.mark.parametrize("files, message", [
    ({"checkpoint/ckpt-0.index": b""}, "no pipeline.config"),
    ({"pipeline.config": CONFIG}, "no checkpoint/ckpt-0.index and ckpt-0.data-*"),
    ({"pipeline.config": b"model { yolo { } }", "checkpoint/ckpt-0.index": b"",
      "checkpoint/ckpt-0.data-00000-of-00001": b""}, "model 'yolo' is not one the trainer supports"),
])
def test_what_is_not_a_trainable_zoo_model_is_refused_with_the_reason(files, message):
    with pytest.raises(ArchiveError, match=message):
        describe("x", "x.tar.gz", b"", files)


def test_adding_uploads_once_and_lists_it_and_a_second_archive_under_the_same_name_is_refused(caplog):
    caplog.set_level(logging.INFO, logger="shared.pipeline.base_models")
    blobs, settings = MemoryBlobStore(), Settings()
    models = BaseModels(blobs, settings)
    added = models.add(zoo(), "https://example/ssd_mobilenet_v2_320x320_coco17_tpu-8.tar.gz")
    assert added["added"] and added["name"] == "ssd_mobilenet_v2_320x320_coco17_tpu-8"
    [logged] = [r for r in caplog.records if r.getMessage() == "base model added"]
    assert (logged.base_model, logged.num_classes) == ("ssd_mobilenet_v2_320x320_coco17_tpu-8", 90)
    assert added["base_model_setting"] == "base-models/ssd_mobilenet_v2_320x320_coco17_tpu-8"
    folder = "base-models/ssd_mobilenet_v2_320x320_coco17_tpu-8/"
    assert blobs.read(settings.models_container, folder + "checkpoint/ckpt-0.index").data == b"index"
    assert json.loads(blobs.read(settings.models_container, folder + "base.json").data)["num_classes"] == 90
    again = models.add(zoo(), "ssd_mobilenet_v2_320x320_coco17_tpu-8.tar.gz")
    assert again["added"] is False and again["reason"] == "the same archive is already there"
    with pytest.raises(ArchiveError, match="already holds another archive"):
        models.add(zoo(CONFIG.replace(b"90", b"80")), "ssd_mobilenet_v2_320x320_coco17_tpu-8.tar.gz")
    blobs.write(settings.models_container, "base-models/by-hand/pipeline.config", CONFIG)
    assert [(m["name"], m["source"]) for m in models.list()] == [
        ("by-hand", "uploaded by hand (no base.json)"),
        ("ssd_mobilenet_v2_320x320_coco17_tpu-8", "https://example/ssd_mobilenet_v2_320x320_coco17_tpu-8.tar.gz")]


def test_names_come_from_the_archive_and_must_be_folder_safe():
    assert name_from("/tmp/efficientdet_d0_coco17_tpu-32.tar.gz") == "efficientdet_d0_coco17_tpu-32"
    with pytest.raises(ArchiveError, match="not a usable base model name"):
        BaseModels(MemoryBlobStore(), Settings()).add(zoo(), "x.tar.gz", name="../up")
