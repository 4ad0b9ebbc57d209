"""The other zoo architectures the base-model import accepts, run for real: a Faster R-CNN and a CenterNet laid out
as the TF2 zoo ships them (`zoo_configs/`, the zoo's configs at 128x128), with a `ckpt-0` written the way the zoo's
are (an object checkpoint of the whole detection model), imported with `base-model add`'s use case and fine-tuned
by the trainer into a dataset of other classes: it restores the archive's feature extractor, trains, evaluates and
exports a model that answers through `serving_default`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from local_mode.demo_data import vott_export, zoo_archive
from shared.pipeline.base_models import BaseModels
from tests.integration.trainer_image.trainer_runs import fresh_storage, kernels, publish

REPO = Path(__file__).resolve().parents[3]
ZOO = Path(__file__).resolve().parent / "zoo_configs"

pytestmark = [pytest.mark.azurite, pytest.mark.scale_out]


def zoo_checkpoint(config: Path, out: Path) -> Path:
    """`<out>/checkpoint/ckpt-0.*` of the detection model `config` describes, as the zoo's exporter writes it:
    the model built for inference, run once so every variable exists, `Checkpoint(model=…)` saved as number 0."""
    from object_detection.builders import model_builder
    from object_detection.utils import config_util

    from trainer_image.tf_compat import tf

    model = model_builder.build(config_util.get_configs_from_pipeline_file(str(config))["model"], is_training=False)
    images, shapes = model.preprocess(tf.zeros([1, 128, 128, 3]))
    model.postprocess(model.predict(images, shapes), shapes)
    tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(out / "checkpoint"), 1).save(checkpoint_number=0)
    (out / "pipeline.config").write_bytes(config.read_bytes())
    return out


@pytest.fixture(scope="module")
def storage(azurite_connection_string):
    settings, store, _ = fresh_storage(azurite_connection_string)
    return settings, store, publish(store, settings, "two", vott_export(16, seed=8, classes=("circle", "square")))


@pytest.mark.zoo
@pytest.mark.parametrize(("config", "architecture", "extractor"), [
    ("faster_rcnn_resnet50_v1_128", "faster_rcnn", "_feature_extractor_for_proposal_features"),
    ("centernet_resnet50_v2_128", "center_net", "_feature_extractor"),
])
def test_a_zoo_archive_of_this_architecture_fine_tunes_into_other_classes(storage, config, architecture, extractor,
                                                                            tmp_path, azurite_connection_string):
    settings, store, manifest = storage
    base = zoo_checkpoint(ZOO / f"{config}.config", tmp_path / "zoo")
    added = BaseModels(store, settings).add(zoo_archive(base, config), f"/archives/{config}.tar.gz")
    assert (added["architecture"], added["num_classes"]) == (architecture, 90)

    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "trainer_image.train",
                           "--manifest", f"blob://{settings.manifests_container}/{manifest}",
                           "--base-model", f"blob://{settings.models_container}/{added['base_model_setting']}",
                           "--model-dir", str(out), "--checkpoint-url", f"checkpoints/{config}-{uuid.uuid4().hex[:6]}",
                           "--num-steps", "3", "--batch-size", "2"],
                          cwd=REPO, env=os.environ | {"DataStorage": azurite_connection_string,
                                                      "PYTHONPATH": str(REPO), "LOG_LEVEL": "WARNING"},
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    training = json.loads((out / "training.json").read_text())
    assert training["warm_start"]["from"] == "base_model" and training["warm_start"]["restores"] == "detection"
    assert "num_classes: 2" in (out / "pipeline.config").read_text()
    # the feature extractor came from the archive: 3 steps move it a little; fresh weights would be far away
    before = kernels(str(base / "checkpoint" / "ckpt-0"), extractor)
    after = kernels(str(out / "checkpoint" / "ckpt-0"), extractor)
    assert len(before) > 10 and set(before) == set(after)
    moved = np.median([np.linalg.norm(after[n] - before[n]) / np.linalg.norm(before[n]) for n in before])
    assert moved < 0.2, moved
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation_images"] > 0 and "map_50" in metrics

    from trainer_image.tf_compat import tf

    detect = tf.saved_model.load(str(out / "saved_model")).signatures["serving_default"]
    result = detect(input_tensor=tf.zeros([1, 128, 128, 3], tf.uint8))
    assert result["detection_boxes"].shape[-1] == 4 and int(result["num_detections"][0]) >= 0


def test_a_centernet_mobilenet_v2_is_built_without_fetching_imagenet_weights(monkeypatch):
    """The OD API builds this backbone with Keras' ImageNet weights, fetched from the internet at every build (the
    zoo's centernet_mobilenetv2fpn_512x512_coco17_od): the trainer builds it offline, the archive's ckpt-0 follows."""
    import socket

    from google.protobuf import text_format
    from object_detection.builders import model_builder
    from object_detection.protos import model_pb2

    from trainer_image.tf_compat import tf

    def offline(*_args, **_kwargs):
        raise OSError("this test has no network")

    monkeypatch.setattr(socket.socket, "connect", offline)
    config = text_format.Parse("""center_net { num_classes: 2 feature_extractor { type: "mobilenet_v2_fpn" }
        image_resizer { fixed_shape_resizer { height: 128 width: 128 } }
        object_detection_task { localization_loss { l1_localization_loss {} } }
        object_center_params { classification_loss { penalty_reduced_logistic_focal_loss { alpha: 2.0 beta: 4.0 } } }
        }""", model_pb2.DetectionModel())
    model = model_builder.build(config, is_training=False)
    images, shapes = model.preprocess(tf.zeros([1, 128, 128, 3]))
    assert {"box/offset", "box/scale"} <= set(model.predict(images, shapes))
