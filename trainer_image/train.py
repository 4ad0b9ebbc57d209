"""Trainer entry point: manifest → TFRecords → pipeline.config → train → export → evaluate → package.

    python -m trainer_image.train --manifest M --base-model B --model-dir OUT --checkpoint-url C/P \
        --num-steps N --batch-size S [--strategy default|mirrored|multi_worker_mirrored] [--champion C [--warm-start]]
        [--export onnx]

M, B, OUT and the champion are local paths (Azure ML mounts them) or blob://container/path (local mode).
Exits non-zero with one clear line on failure; progress is logged as JSON lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import logs
from shared.dataset.label_map import LabelMap
from shared.dataset.manifest import ManifestError, iter_entries, load_manifest
from shared.training import EXPORT_FORMATS, FAILURE_FILE, FLIPS_IMAGE, SHARD_CACHE, progress_blob
from trainer_image import locations

log = logging.getLogger("trainer")
REPORT_IMAGES = 12
"""Validation images drawn in the training report's prediction grid."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m trainer_image.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="dataset manifest JSON (path or blob://)")
    parser.add_argument("--base-model", required=True, help="folder with pipeline.config and optional "
                        "checkpoint/ (path or blob://)")
    parser.add_argument("--model-dir", required=True, help="where the packaged model goes (path or blob://)")
    parser.add_argument("--checkpoint-url", required=True, help="container/prefix for checkpoints and "
                        "TensorBoard files, written while training and read back on restart")
    parser.add_argument("--num-steps", type=int, required=True)
    parser.add_argument("--batch-size", type=int, required=True, help="global batch size")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multi_worker_mirrored"), default="default")
    parser.add_argument("--champion", help="the deployed model's package (path or blob://): evaluated on this "
                        "run's validation images so the release gates compare both on the same split")
    parser.add_argument("--warm-start", action="store_true", help="fine-tune from the champion's checkpoint "
                        "(the scheduler asks for it only when the label map is unchanged)")
    parser.add_argument("--warm-start-lr-scale", type=float, default=0.1, help="learning rate of a warm start "
                        "from the champion, as a share of the base model's schedule")
    parser.add_argument("--collective-timeout", type=float, default=300.0, help="multi-worker: seconds a step "
                        "waits for the other workers before the run fails (a lost node)")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="steps between checkpoints "
                        "(default: a tenth of the run, at least 10)")
    parser.add_argument("--tfrecord-cache", help="container/prefix of the shard cache (default: "
                        "<checkpoint container>/<project>/tfrecord-cache)")
    parser.add_argument("--tfrecord-cache-mounted", action="store_true", help="the --tfrecord-cache-dir is a "
                        "read-only mount (Azure ML): reused shards are read from it, new ones go to Blob only")
    parser.add_argument("--tfrecord-cache-dir", help="local folder mirroring the shard cache (local mode's disk "
                        "or a mounted cache): reused shards are read in place instead of downloaded")
    parser.add_argument("--export", action="append", choices=EXPORT_FORMATS, default=[], help="also export the "
                        "model to this format, with its accuracy measured against the SavedModel (repeatable)")
    parser.add_argument("--work-dir", help="local scratch folder (default: a temporary one)")
    parser.add_argument("--sync-interval", type=float, default=10.0)
    return parser.parse_args(argv)


class TrainingProgress(logging.Handler):
    """Turns the OD API's per-step log lines ("Step N per-step time Ts", then the loss dict) into one JSON
    progress record with loss, steps/s and ETA; `publish` (the chief's progress blob) gets one every
    `every_seconds` and the last."""

    STEP = re.compile(r"Step (\d+) per-step time ([\d.]+)s")
    LOSS = re.compile(r"'Loss/total_loss': ([\d.eE+-]+)")

    def __init__(self, total_steps: int, publish: Callable[[dict[str, Any]], None] | None = None,
                 every_seconds: float = 10.0) -> None:
        super().__init__(logging.INFO)
        self.total = total_steps
        self.pending: tuple[int, float] | None = None
        self.publish, self.every, self.published = publish, every_seconds, float("-inf")
        self.last: dict[str, Any] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if (step := self.STEP.search(message)) is not None:
            self.pending = (int(step.group(1)), float(step.group(2)))
        elif self.pending and (loss := self.LOSS.search(message)) is not None:
            done, seconds = self.pending
            self.pending = None
            figures = {"step": done, "total_steps": self.total, "loss": round(float(loss.group(1)), 4),
                       "steps_per_second": round(1 / seconds, 2) if seconds else None,
                       "eta_seconds": round((self.total - done) * seconds)}
            log.info("training progress", extra=figures)
            self.last = figures
            if self.publish and time.monotonic() - self.published >= self.every:
                self.published = time.monotonic()
                self.publish(figures)

    def finish(self) -> None:
        """The loop is done: the last step reported (the OD API logs a step only every 100)."""
        if self.publish:
            self.publish({"step": self.total, "total_steps": self.total, "loss": (self.last or {}).get("loss"),
                          "steps_per_second": (self.last or {}).get("steps_per_second"), "eta_seconds": 0})


def progress_writer(checkpoint_url: str) -> Callable[[dict[str, Any]], None]:
    """Writes the latest progress, with the time it was seen, to the run's progress blob; a failed write is
    logged and training goes on (the page then shows an older step)."""
    container, _, prefix = checkpoint_url.partition("/")

    def publish(figures: dict[str, Any]) -> None:
        body = figures | {"at": datetime.now(UTC).isoformat(timespec="seconds")}
        try:
            locations.store().write(container, progress_blob(prefix), json.dumps(body).encode(),
                                    content_type="application/json")
        except Exception as exc:  # progress is a courtesy: never stop training for it
            log.warning("training progress not saved", extra={"error": f"{type(exc).__name__}: {exc}"[:300]})

    return publish


def _strategy(name: str, collective_timeout: float):
    """Built before any other TensorFlow op (collective ops are configured at program start). Across workers,
    a collective that waits longer than `collective_timeout` aborts the run: a lost worker fails it with the
    reason instead of leaving the others waiting forever."""
    from trainer_image.tf_compat import tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker_mirrored":
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=collective_timeout)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    return tf.distribute.get_strategy()


def workers_of(strategy_name: str) -> int:
    """Processes in the run: the chief and workers TF_CONFIG names (as Azure ML's TensorFlow distribution sets)."""
    import os

    if strategy_name != "multi_worker_mirrored":
        return 1
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def is_chief(strategy: Any) -> bool:
    """The chief (or the only process) checkpoints, evaluates, exports and uploads; other workers only train."""
    return bool(strategy.extended.should_checkpoint)


class Stopwatch:
    """Seconds spent in each stage, for training.json and the closing log line."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 2)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The stages in order; each takes what the one before it produced."""
    strategy = _strategy(args.strategy, args.collective_timeout)
    manifest = load_manifest(locations.read_bytes(args.manifest))
    project, version = manifest["project"], manifest["dataset_version"]
    with logs.correlation(project=project, dataset_version=version):
        if not manifest["counts"]["train"]:
            raise ValueError(f"dataset {version} has no training images")
        label_map = LabelMap.from_list(manifest["label_map"])
        (work / "label_map.pbtxt").write_text(label_map.to_pbtxt())
        clock, train_dir = Stopwatch(), work / "train"
        with clock.stage("tfrecords"):
            from trainer_image.tfrecords import spread

            stats = _build_records(args, manifest, work)
            stats.files["train"] = spread(stats.files["train"], workers_of(args.strategy), work / "tfrecords-spread")
        with clock.stage("configure"):
            config_path, warm, overrides, champion = _configure(args, stats.files, label_map, work)
        with clock.stage("train"):
            resumed = _train(args, config_path, train_dir, strategy)
        if not is_chief(strategy):
            log.info("worker finished training: the chief evaluates, exports and uploads", extra={
                "timings": clock.seconds})
            return {"project": project, "dataset_version": version, "role": "worker", "timings_seconds": clock.seconds}
        with clock.stage("export"):
            package = _package(args, config_path, train_dir, label_map, work)
        conversions = _start_exports(args.export, package, stats.files["train"])
        try:
            with clock.stage("evaluate"):
                seen, coco, metrics = _evaluate(manifest, package, champion, stats.files["validation"], label_map)
                metrics["validation_objects"] = dict(sorted(stats.objects["validation"].items()))
                if stats.files["golden"]:
                    metrics["golden"] = _evaluate_golden(package, champion, stats.files["golden"], label_map) | {
                        "objects": dict(sorted(stats.objects["golden"].items()))}
                metrics["dataset_counts"] = {k: manifest["counts"].get(k, 0) for k in (
                    "images", "train", "validation", "golden", "production")}
            with clock.stage("report"):
                _report_data(package, seen, label_map, train_dir)
            if conversions:
                with clock.stage("exports"):
                    metrics["exports"] = _finish_exports(conversions, package, seen, coco,
                                                         stats.files["validation"], label_map)
        finally:  # a failure above leaves no conversion running after the trainer
            for conversion in conversions:
                conversion.stop()
        (package / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))
        summary = {"project": project, "dataset_version": version, "num_steps": args.num_steps,
                   "batch_size": args.batch_size, "strategy": args.strategy, "resumed_from_step": resumed,
                   "warm_start": warm, "tfrecords": stats.to_dict(), "overrides": overrides,
                   "timings_seconds": clock.seconds}
        (package / "training.json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))
        locations.upload_folder(package, args.model_dir)
        _log_to_mlflow(metrics, summary)
        log.info("training finished", extra={"map": metrics.get("map"), "map_50": metrics.get("map_50"),
                                             "timings": clock.seconds})
        return summary


def _build_records(args: argparse.Namespace, manifest: dict[str, Any], work: Path) -> Any:
    """TFRecord shards of the manifest's images, reusing shards cached from earlier runs of the project."""
    from trainer_image.tfrecords import ShardBuilder, ShardCache

    ckpt_container = args.checkpoint_url.partition("/")[0]
    cache_container, _, cache_prefix = (args.tfrecord_cache or f"{ckpt_container}/{manifest['project']}/"
                                                               f"{SHARD_CACHE}").partition("/")
    cache_dir = Path(args.tfrecord_cache_dir) if args.tfrecord_cache_dir else None
    records = ShardBuilder(locations.store().read,
                           ShardCache(locations.store(), cache_container, cache_prefix, cache_dir,
                                      local_read_only=args.tfrecord_cache_mounted))
    return records.build(manifest, lambda: iter_entries(
        manifest, lambda rel: locations.read_bytes(locations.beside(args.manifest, rel))), work / "tfrecords")


def _configure(args: argparse.Namespace, records: dict[str, list[str]], label_map: LabelMap,
               work: Path) -> tuple[Path, dict[str, Any], dict[str, Any], Path | None]:
    """pipeline.config from the base model's, overriding only named fields; the warm start chosen and why."""
    from trainer_image import pipeline_config

    base = locations.download_folder(args.base_model, work / "base_model")
    champion = locations.download_folder(args.champion, work / "champion") if args.champion else None
    plan, warm = _plan(args, records, label_map, work, base, champion)
    configs, overrides = pipeline_config.configure(pipeline_config.read_base_config(base / "pipeline.config"), plan)
    config_path = pipeline_config.write(configs, work / "config")
    log.info("pipeline.config written", extra={"overrides": overrides, "warm_start": warm})
    return config_path, warm, overrides, champion


def _evaluate(manifest: dict[str, Any], package: Path, champion: Path | None, validation: list[str],
              label_map: LabelMap) -> tuple[list, dict[str, float], dict[str, Any]]:
    """The exported model's pass over the validation split, its COCO metrics (raw and summarized), and the
    champion's on the same images when there is one."""
    from trainer_image.evaluation import evaluate, summarize, validation_pass

    version, count = manifest["dataset_version"], manifest["counts"]["validation"]
    if not count:
        return [], {}, {"error": "no validation images: nothing to evaluate", "dataset_version": version,
                        "validation_images": 0}
    seen = validation_pass(package / "saved_model", validation, keep_images=REPORT_IMAGES)
    coco = evaluate(seen, label_map)
    metrics = summarize(coco) | {"dataset_version": version, "validation_images": len(seen)}
    if champion is not None:
        figures, theirs, their_names = _evaluate_champion(champion, validation, label_map)
        metrics["champion"] = figures | {"dataset_version": version, "validation_images": count}
        if theirs:
            metrics["flips"] = _flips(package, seen, theirs, label_map, their_names, validation)
    return seen, coco, metrics


def _flips(package: Path, mine: list, theirs: list, label_map: LabelMap, their_names: dict[int, str],
           records: list[str]) -> dict[str, Any]:
    """Objects the champion found and this model misses, and the reverse: counts per class in metrics.json, a
    handful cropped into flips.jpg for the report and the approval page."""
    from trainer_image import flips
    from trainer_image.report_assets import read_examples

    my_names = {item.id: item.name for item in label_map.items}
    changed = flips.flips(mine, theirs, my_names, their_names)
    wanted = flips.wanted_images(changed)
    images = {i: encoded for i, (_, encoded, _, _) in enumerate(read_examples(records)) if i in wanted}
    sheet = flips.strip(changed, images, mine, theirs, my_names, their_names)
    if sheet:
        (package / FLIPS_IMAGE).write_bytes(sheet)
    return flips.summary(changed, len(mine))


def _package(args: argparse.Namespace, config_path: Path, train_dir: Path, label_map: LabelMap, work: Path) -> Path:
    """The exported SavedModel with its label map, in the folder that gets uploaded."""
    from trainer_image.exporting import export

    package = Path(args.model_dir) if not locations.is_blob(args.model_dir) else work / "package"
    export(config_path, train_dir, package)
    (package / "label_map.pbtxt").write_text(label_map.to_pbtxt())
    return package


def _start_exports(formats: list[str], package: Path, train_records: list[str]) -> list[Any]:
    """Each asked-for format's conversion, started now so that it runs beside the validation pass."""
    from trainer_image.onnx_export import OnnxConversion
    from trainer_image.tflite_export import TfliteConversion

    starts = {"onnx": lambda: OnnxConversion(package / "saved_model", package),
              "tflite": lambda: TfliteConversion(package / "pipeline.config", package / "checkpoint", package,
                                                 train_records)}
    return [starts[name]() for name in dict.fromkeys(formats)]


def _finish_exports(conversions: list[Any], package: Path, seen: list, coco: dict[str, float],
                    validation: list[str], label_map: LabelMap) -> dict[str, Any]:
    """Each format's size, conversion time and accuracy against the SavedModel on the validation images; a format
    that fails says why and the run goes on."""
    from trainer_image import export_parity
    from trainer_image.serving.runtimes import fixed_input_size
    from trainer_image.tflite_export import tflite_detector

    exports: dict[str, Any] = {}
    for conversion in conversions:
        exports |= conversion.results()
    for name, figures in exports.items():
        if "error" in figures or not seen:
            continue
        path = package / figures["file"]
        if name == "onnx":  # the serving side resizes images of other sizes to this first; it has no OD API to ask
            figures["input_size"] = fixed_input_size((package / "pipeline.config").read_text())
        try:
            detector = (export_parity.onnx_detector(path) if name == "onnx"
                        else tflite_detector(path, package / "pipeline.config"))
            figures["parity"] = export_parity.measure(seen, coco, detector, validation,
                                                      {item.name: item.id for item in label_map.items},
                                                      same_graph=name == "onnx")
        except Exception as exc:  # a file its runtime cannot run: unmeasured, which the gate refuses to serve
            figures["parity"] = {"error": f"could not be measured: {type(exc).__name__}: {exc}"[:500]}
        log.info("export accuracy measured", extra={"format": name, **{k: figures["parity"].get(k) for k in (
            "map_50", "map_50_drop", "max_box_difference", "max_score_difference")}})
    return exports


def _report_data(package: Path, seen: list, label_map: LabelMap, train_dir: Path) -> None:
    """Loss points and predictions on validation images, for the HTML report the release side renders; and the
    validation images' drift profile, which the drift watch compares production with."""
    from trainer_image.report_assets import loss_points, prediction_grid, validation_profile

    examples: list[dict] = []
    if seen:
        names = {item.id: item.name for item in label_map.items}
        grid, examples = prediction_grid(seen, names, limit=REPORT_IMAGES)
        (package / "report_grid.jpg").write_bytes(grid)
        (package / "baseline.json").write_text(json.dumps(validation_profile(seen, names), indent=1))
    (package / "report.json").write_text(json.dumps({"loss": loss_points(train_dir), "examples": examples},
                                                    indent=1))


def _plan(args: argparse.Namespace, records: dict[str, list[str]], label_map: LabelMap, work: Path,
          base: Path, champion: Path | None) -> tuple[Any, dict[str, Any]]:
    """What to fine-tune from, and why: the champion (same classes), the base model's checkpoint, or nothing."""
    from trainer_image.pipeline_config import TrainingPlan

    if args.warm_start and champion is not None:  # same classes: the whole model, box predictor heads included
        warm = {"from": "champion", "reason": "label map unchanged: fine-tuning from the current champion",
                "checkpoint": str(champion / "checkpoint" / "ckpt-0"), "restores": "full"}
    elif (base / "checkpoint" / "ckpt-0.index").exists():  # other classes: all but the class-specific heads
        warm = {"from": "base_model", "reason": "classes changed or no champion: fine-tuning from the base model",
                "checkpoint": str(base / "checkpoint" / "ckpt-0"), "restores": "detection"}
    else:
        warm = {"from": "scratch", "reason": "no champion to warm-start from and the base model has no checkpoint"}
    plan = TrainingPlan(num_classes=len(label_map.items), num_steps=args.num_steps, batch_size=args.batch_size,
                        label_map_path=str(work / "label_map.pbtxt"), train_records=records["train"],
                        eval_records=records["validation"], fine_tune_checkpoint=warm.get("checkpoint"),
                        fine_tune_checkpoint_type=warm.get("restores", "detection"),
                        learning_rate_scale=args.warm_start_lr_scale if warm["from"] == "champion" else 1.0)
    log.info("warm start decided", extra={"warm_start": warm["from"], "reason": warm["reason"]})
    return plan, warm


def _evaluate_golden(package: Path, champion: Path | None, golden: list[str],
                     label_map: LabelMap) -> dict[str, Any]:
    """The model's and the champion's metrics on the project's golden set: the same images every run, never
    trained on, so versions can be compared with each other and not only with the one before."""
    from trainer_image.evaluation import evaluate, summarize, validation_pass

    seen = validation_pass(package / "saved_model", golden)
    figures = summarize(evaluate(seen, label_map)) | {"images": len(seen)}
    if champion is not None:
        figures["champion"] = _evaluate_champion(champion, golden, label_map)[0]
    return figures


def _evaluate_champion(champion: Path, records: list[str],
                       label_map: LabelMap) -> tuple[dict[str, Any], list, dict[int, str]]:
    """The champion's metrics on these images (its classes matched to this label map by name), its pass and its
    class names; the caller stamps the metrics with this run's dataset version and image count, which the gates
    check. An unreadable champion: the error, and no pass."""
    from shared.dataset.problems import Rejected
    from trainer_image.evaluation import evaluate, summarize, validation_pass

    try:
        seen = validation_pass(champion / "saved_model", records)
        champion_labels = LabelMap.parse((champion / "label_map.pbtxt").read_text())
    except (OSError, ValueError, Rejected) as exc:
        return {"error": f"champion could not be evaluated: {exc}"}, [], {}
    names = {item.id: item.name for item in champion_labels.items}
    return summarize(evaluate(seen, label_map, champion_labels)), seen, names


def _train(args: argparse.Namespace, config_path: Path, train_dir: Path, strategy: Any) -> int | None:
    """The OD API's training loop, resuming from (and, on the chief, saving to) the run's checkpoint folder in Blob
    Storage."""
    from object_detection import model_lib_v2

    from trainer_image.checkpoints import CheckpointSync
    from trainer_image.tf_compat import tf

    train_dir.mkdir(parents=True, exist_ok=True)
    container, _, prefix = args.checkpoint_url.partition("/")
    sync = CheckpointSync(locations.store(), container, prefix, train_dir, interval=args.sync_interval)
    resumed = sync.restore()
    every = args.checkpoint_every or max(10, args.num_steps // 10)
    replicas, chief = strategy.num_replicas_in_sync, is_chief(strategy)
    log.info("training", extra={"steps": args.num_steps, "resumed_from_step": resumed, "replicas": replicas,
                                "global_batch": args.batch_size, "per_replica_batch": args.batch_size / replicas,
                                "checkpoint_every": every, "chief": chief})
    progress = TrainingProgress(args.num_steps, progress_writer(args.checkpoint_url) if chief else None)
    logging.getLogger("absl").addHandler(progress)
    tf.get_logger().addHandler(progress)
    try:
        with sync if chief else contextlib.nullcontext(), strategy.scope():
            model_lib_v2.train_loop(pipeline_config_path=str(config_path), model_dir=str(train_dir),
                                    train_steps=args.num_steps, checkpoint_every_n=every, checkpoint_max_to_keep=3,
                                    record_summaries=True, num_steps_per_iteration=min(every, 100))
        progress.finish()
    finally:
        logging.getLogger("absl").removeHandler(progress)
        tf.get_logger().removeHandler(progress)
    return resumed


def _log_to_mlflow(metrics: dict[str, Any], summary: dict[str, Any]) -> None:
    """In Azure ML the run's MLflow tracking URI is set: the completion handler reads the metrics there."""
    import os

    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return
    try:
        import mlflow
    except ImportError:
        log.warning("MLFLOW_TRACKING_URI is set but mlflow is not installed: metrics stay in metrics.json")
        return
    flat = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    flat |= {f"ap_{name}": v for name, v in metrics.get("per_class_ap", {}).items()}
    mlflow.log_metrics({k: float(v) for k, v in flat.items() if v is not None})
    mlflow.log_params({"dataset_version": summary["dataset_version"], "num_steps": summary["num_steps"],
                       "batch_size": summary["batch_size"], "warm_start": summary["warm_start"]["from"]})


def _say_why(model_dir: str, reason: str, last_lines: list[str]) -> None:
    """failure.json in the model folder: the completion handler then knows the code failed (no retry), not the
    machine, and logs the trainer's last lines with the run's end. Best effort: if even this write fails, the run
    is treated as an infrastructure failure."""
    try:
        locations.write_file(model_dir, FAILURE_FILE,
                             json.dumps({"error": reason, "last_lines": last_lines}).encode())
    except Exception:
        log.exception("could not write failure.json")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logs.configure("INFO")
    recent = logs.RecentLines()
    logging.getLogger().addHandler(recent)
    import os

    with logs.correlation(run_id=os.environ.get("TRAINING_JOB_NAME") or os.environ.get("AZUREML_RUN_ID")):
        try:
            with tempfile.TemporaryDirectory(prefix="trainer-") as scratch:
                work = Path(args.work_dir) if args.work_dir else Path(scratch)
                work.mkdir(parents=True, exist_ok=True)
                run(args, work)
            return 0
        except (ManifestError, ValueError, FileNotFoundError, RuntimeError) as exc:
            log.error("training failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            print(f"trainer failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            _say_why(args.model_dir, f"trainer failed: {type(exc).__name__}: {exc}", recent.lines())
            return 1
        except Exception as exc:
            if _lost_peer(exc):
                return _peer_lost(exc)
            raise


def _lost_peer(exc: BaseException) -> bool:
    """A collective that timed out or a peer that went away: the machine failed, not the code or the data."""
    try:
        from trainer_image.tf_compat import tf
    except ImportError:
        return False
    return isinstance(exc, tf.errors.DeadlineExceededError | tf.errors.UnavailableError | tf.errors.CancelledError
                      | tf.errors.AbortedError)


def _peer_lost(exc: BaseException) -> int:
    """No failure.json: the run ends as an infrastructure failure, which the service retries."""
    first = (str(exc).splitlines() or [""])[0]
    reason = f"a training worker was lost or stopped answering ({type(exc).__name__}): {first}"
    log.error("training failed", extra={"error": reason})
    print(f"trainer stopped: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
