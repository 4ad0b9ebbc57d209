"""Fill in a base model's pipeline.config with the OD API's own config utilities, overriding named fields only."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import text_format
from object_detection.protos import train_pb2
from object_detection.utils import config_util

log = logging.getLogger(__name__)


class BaseModelError(ValueError):
    """The base model cannot be used; the message says why."""


@dataclass(frozen=True)
class TrainingPlan:
    num_classes: int
    num_steps: int
    batch_size: int
    label_map_path: str
    train_records: list[str]
    eval_records: list[str]
    fine_tune_checkpoint: str | None = None
    fine_tune_checkpoint_type: str = "detection"
    learning_rate_scale: float = 1.0
    """Applied to the schedule's peak and warm-up rates: a model fine-tuned from a trained one of the same classes
    starts at its minimum, and the full rate would throw it out of it."""


def read_base_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise BaseModelError(f"{path}: the base model has no pipeline.config")
    try:
        configs = config_util.get_configs_from_pipeline_file(str(path))
    except (text_format.ParseError, ValueError) as exc:
        raise BaseModelError(f"{path}: not a readable pipeline.config: {exc}") from None
    if configs["model"].WhichOneof("model") is None:
        raise BaseModelError(f"{path}: no model {{ }} section")
    return configs


def _optimizer_schedule(configs: dict[str, Any]) -> tuple[str, Any] | None:
    """The learning-rate schedule message of the first optimizer, with its generic config key."""
    optimizer = configs["train_config"].optimizer
    kind = optimizer.WhichOneof("optimizer")
    if kind is None:
        return None
    rate = getattr(optimizer, kind).learning_rate
    schedule = rate.WhichOneof("learning_rate")
    return (f"train_config.optimizer.{kind}.learning_rate.{schedule}", getattr(rate, schedule)) if schedule else None


def configure(configs: dict[str, Any], plan: TrainingPlan) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the updated configs and the overrides applied (logged and stored with the run)."""
    overrides: dict[str, Any] = {
        "num_classes": plan.num_classes,  # config_util sets it for ssd and faster_rcnn only: center_net below
        "train_steps": plan.num_steps,
        "batch_size": plan.batch_size,
        "label_map_path": plan.label_map_path,
        "train_input_path": plan.train_records,
        "eval_input_path": plan.eval_records,
    }
    if plan.fine_tune_checkpoint:
        train_config = configs["train_config"]
        for field, empty in (("fine_tune_checkpoint", ""), ("fine_tune_checkpoint_type", ""),
                             ("fine_tune_checkpoint_version", train_pb2.CheckpointVersion.V1)):
            if not train_config.HasField(field):  # config_util only overrides fields the file declares
                setattr(train_config, field, empty)
        overrides["train_config.fine_tune_checkpoint"] = plan.fine_tune_checkpoint
        overrides["train_config.fine_tune_checkpoint_type"] = plan.fine_tune_checkpoint_type
        overrides["train_config.fine_tune_checkpoint_version"] = train_pb2.CheckpointVersion.V2  # TF2 checkpoints
    if configs["model"].WhichOneof("model") == "center_net":
        overrides["model.center_net.num_classes"] = plan.num_classes
    overrides |= _schedule_overrides(configs, plan)
    updated = config_util.merge_external_params_with_configs(configs, kwargs_dict=overrides)
    return updated, overrides


def _schedule_overrides(configs: dict[str, Any], plan: TrainingPlan) -> dict[str, Any]:
    """Scale the schedule with the run: linear learning-rate scaling for the batch size (and the plan's scale), and
    the decay length and warm-up fitted to the number of steps — explicit overrides, logged, never silent."""
    found = _optimizer_schedule(configs)
    if found is None:
        return {}
    key, schedule = found
    out: dict[str, Any] = {}
    base_batch = configs["train_config"].batch_size or plan.batch_size
    def declared(field: str) -> bool:
        return field in schedule.DESCRIPTOR.fields_by_name and schedule.HasField(field)

    scale = plan.batch_size / base_batch * plan.learning_rate_scale
    if scale != 1.0:
        for field in ("learning_rate_base", "initial_learning_rate", "warmup_learning_rate"):
            if declared(field):
                out[f"{key}.{field}"] = getattr(schedule, field) * scale
    if declared("total_steps"):
        out[f"{key}.total_steps"] = plan.num_steps
    if declared("warmup_steps") and schedule.warmup_steps >= plan.num_steps:
        out[f"{key}.warmup_steps"] = max(plan.num_steps // 10, 0)
    if out:
        log.info("learning-rate schedule scaled to the run", extra={"from_batch_size": base_batch,
                                                                    "scale": plan.learning_rate_scale,
                                                                    "overrides": out})
    return out


def write(configs: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    config_util.save_pipeline_config(config_util.create_pipeline_proto_from_configs(configs), str(directory))
    return directory / "pipeline.config"
