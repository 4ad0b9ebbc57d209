"""pipeline.config edits go through the OD API's config_util and read back through it."""

from pathlib import Path

import pytest
from object_detection.protos import train_pb2

from trainer_image.pipeline_config import BaseModelError, TrainingPlan, configure, read_base_config, write

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config"


def plan(**kw) -> TrainingPlan:
    values = dict(num_classes=3, num_steps=40, batch_size=16, label_map_path="/w/label_map.pbtxt",
                  train_records=["/w/train-a.tfrecord", "/c/train-b.tfrecord"],
                  eval_records=["/w/validation-c.tfrecord"])
    return TrainingPlan(**(values | kw))


def test_named_fields_are_overridden_and_read_back(tmp_path):
    configs, overrides = configure(read_base_config(SAMPLE), plan(fine_tune_checkpoint="/ckpt/ckpt-0"))
    path = write(configs, tmp_path)
    again = read_base_config(path)
    ssd = again["model"].ssd
    assert ssd.num_classes == 3
    assert again["train_config"].num_steps == 40 and again["train_config"].batch_size == 16
    assert again["train_config"].fine_tune_checkpoint == "/ckpt/ckpt-0"
    assert again["train_config"].fine_tune_checkpoint_type == "detection"
    assert again["train_config"].fine_tune_checkpoint_version == train_pb2.CheckpointVersion.V2
    assert list(again["train_input_config"].tf_record_input_reader.input_path) == ["/w/train-a.tfrecord",
                                                                                   "/c/train-b.tfrecord"]
    assert list(again["eval_input_configs"][0].tf_record_input_reader.input_path) == ["/w/validation-c.tfrecord"]
    assert again["train_input_config"].label_map_path == "/w/label_map.pbtxt"
    # the learning rate follows the batch size (8 in the base config → 16), the schedule follows the steps
    schedule = again["train_config"].optimizer.adam_optimizer.learning_rate.cosine_decay_learning_rate
    assert schedule.learning_rate_base == pytest.approx(0.008)
    assert schedule.warmup_learning_rate == pytest.approx(0.0008)
    assert (schedule.total_steps, schedule.warmup_steps) == (40, 4)
    assert any(k.endswith("learning_rate_base") for k in overrides)
    # everything else is kept as the base model wrote it
    assert ssd.feature_extractor.depth_multiplier == pytest.approx(0.35)
    assert ssd.image_resizer.fixed_shape_resizer.height == 128
    assert again["eval_config"].include_metrics_per_category


def test_a_warm_start_from_the_champion_restores_everything_at_a_tenth_of_the_rate(tmp_path):
    configs, _ = configure(read_base_config(SAMPLE), plan(fine_tune_checkpoint="/champion/ckpt-0",
                                                          fine_tune_checkpoint_type="full", learning_rate_scale=0.1))
    again = read_base_config(write(configs, tmp_path))
    assert again["train_config"].fine_tune_checkpoint_type == "full"
    schedule = again["train_config"].optimizer.adam_optimizer.learning_rate.cosine_decay_learning_rate
    assert schedule.learning_rate_base == pytest.approx(0.0008)  # 0.004 x (16 / 8) x 0.1
    assert schedule.warmup_learning_rate == pytest.approx(0.00008)


def test_unreadable_base_configs_are_refused_with_the_reason(tmp_path):
    with pytest.raises(BaseModelError, match=r"has no pipeline\.config"):
        read_base_config(tmp_path / "pipeline.config")
    broken = tmp_path / "broken.config"
    broken.write_text("model { ssd { num_classes: three } }")
    with pytest.raises(BaseModelError, match=r"not a readable pipeline\.config"):
        read_base_config(broken)
    empty = tmp_path / "empty.config"
    empty.write_text("train_config { batch_size: 2 }")
    with pytest.raises(BaseModelError, match="no model"):
        read_base_config(empty)


@pytest.mark.parametrize("config", ["faster_rcnn_resnet50_v1_128", "centernet_resnet50_v2_128"])
def test_every_supported_architecture_gets_the_datasets_classes(config, tmp_path):
    """config_util's num_classes override skips center_net: a CenterNet zoo model kept COCO's 90 classes."""
    zoo = REPO / "tests" / "integration" / "trainer_image" / "zoo_configs" / f"{config}.config"
    configs, _ = configure(read_base_config(zoo), plan())
    again = read_base_config(write(configs, tmp_path))
    model = again["model"]
    assert getattr(model, model.WhichOneof("model")).num_classes == 3
    assert again["train_config"].num_steps == 40
