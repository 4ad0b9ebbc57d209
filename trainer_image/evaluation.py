"""COCO evaluation of a checkpoint on a validation split, through the OD API's own eval loop."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from object_detection import inputs, model_lib_v2
from object_detection.builders import model_builder, optimizer_builder
from object_detection.utils import config_util

from trainer_image.tf_compat import tf

log = logging.getLogger(__name__)

PER_CLASS_PREFIX = "DetectionBoxes_PerformanceByCategory/mAP/"


def evaluate(pipeline_config: Path, checkpoint_dir: Path, *, eval_records: list[str] | None = None,
             label_map_path: str | None = None) -> dict[str, float]:
    """Metrics of the latest checkpoint in `checkpoint_dir`; the eval input can be pointed at another split
    (the champion is evaluated on the challenger's validation images)."""
    configs = config_util.get_configs_from_pipeline_file(str(pipeline_config))
    overrides: dict[str, Any] = {"eval_num_epochs": 1}
    if eval_records:
        overrides["eval_input_path"] = eval_records
    if label_map_path:
        overrides["label_map_path"] = label_map_path
    configs = config_util.merge_external_params_with_configs(configs, kwargs_dict=overrides)
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = model_builder.build(model_config=configs["model"], is_training=True)
    dataset = strategy.experimental_distribute_dataset(inputs.eval_input(
        eval_config=configs["eval_config"], eval_input_config=configs["eval_input_configs"][0],
        model_config=configs["model"], model=model))
    step = tf.Variable(0, trainable=False, dtype=tf.int64)
    optimizer, _ = optimizer_builder.build(configs["train_config"].optimizer, global_step=step)
    latest = tf.train.latest_checkpoint(str(checkpoint_dir))
    if latest is None:
        raise FileNotFoundError(f"no checkpoint in {checkpoint_dir}")
    tf.train.Checkpoint(step=step, model=model, optimizer=optimizer).restore(latest).expect_partial()
    metrics = model_lib_v2.eager_eval_loop(model, configs, dataset, global_step=step)
    return {key: float(value) for key, value in metrics.items()}


def summarize(metrics: dict[str, float]) -> dict[str, Any]:
    """The figures the release gates read: overall COCO numbers and AP per class."""
    return {
        "map": metrics.get("DetectionBoxes_Precision/mAP"),
        "map_50": metrics.get("DetectionBoxes_Precision/mAP@.50IOU"),
        "map_75": metrics.get("DetectionBoxes_Precision/mAP@.75IOU"),
        "recall_100": metrics.get("DetectionBoxes_Recall/AR@100"),
        "per_class_ap": {k[len(PER_CLASS_PREFIX):]: v for k, v in metrics.items() if k.startswith(PER_CLASS_PREFIX)},
        "loss": {k.split("/", 1)[1]: v for k, v in metrics.items() if k.startswith("Loss/")},
        "coco": {k: v for k, v in metrics.items() if k.startswith("DetectionBoxes_")
                 and not k.startswith(PER_CLASS_PREFIX)},
    }
