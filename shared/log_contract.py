"""The log contract: every line the service writes, its level and the fields it always carries.

Saved queries, the workbook, alerts and `python -m local_mode logs` read lines by their `message` and these
fields; tests hold the code, this table and docs/monitoring.md to each other, and a local run's log file to the fields.
"""

from __future__ import annotations

from dataclasses import dataclass

IDS = ("project", "batch_id", "run_id", "model_version", "dataset_version", "event_id")
"""Correlation ids: what joins the lines of one batch's story."""


@dataclass(frozen=True)
class LogEvent:
    message: str
    level: str
    step: str
    """Where in the loop: upload, debounce, dataset, run, gates, approval, release, labelling, operations, trainer,
    endpoint."""
    ids: tuple[str, ...]
    fields: tuple[str, ...]
    meaning: str


def _e(message: str, level: str, step: str, ids: str, fields: str, meaning: str) -> LogEvent:
    return LogEvent(message, level, step, tuple(ids.split()), tuple(fields.split()), meaning)


EVENTS: tuple[LogEvent, ...] = (
    # Uploads arrive (Event Grid → blob_events).
    _e("uploads recorded", "INFO", "upload", "project", "files deleted first_blob last_event_time",
       "a delivery's dataset files written to the ledger, per project"),
    _e("blob events ingested", "INFO", "upload", "", "events recorded duplicates ignored refused clamped late",
       "one Event Grid delivery handled: what was recorded, ignored (with why) or refused"),
    _e("event refused: unexpected topic", "WARNING", "upload", "event_id", "topic expected",
       "an event from another storage account than EXPECTED_BLOB_TOPIC"),
    _e("event ignored: not a project folder name", "WARNING", "upload", "event_id", "blob",
       "a dataset file outside a valid project folder"),
    _e("event time clamped to its receipt", "WARNING", "upload", "event_id", "event_time",
       "an event dated in the future: recorded at its receipt time"),
    _e("event arrived late: recorded at its receipt", "WARNING", "upload", "event_id", "event_time blob seconds_late",
       "an event received more than EVENT_LATENESS_SECONDS after its time (a retried delivery, a replayed "
       "dead letter): it trains with the next batch"),
    _e("event delivery refused", "WARNING", "upload", "", "error status",
       "a delivery that is not valid Event Grid JSON (400) or too large (413): Event Grid dead-letters it"),
    _e("event subscription validated", "INFO", "upload", "", "event_id", "Event Grid's validation handshake"),
    # The debounce timer.
    _e("debounce decision", "INFO", "debounce", "project batch_id", "action reason",
       "the window settled (or overflowed) and the batch is claimed, or an unfinished flush resumes"),
    _e("training held", "WARNING", "debounce", "project", "reason hold",
       "changes wait: a run is active, the last one failed, or a daily cap (hold = daily_runs, daily_gpu_hours) "
       "is reached"),
    _e("project ticked", "INFO", "debounce", "project", "action reason batch_id job_name note",
       "the timer's summary of a project it did not just leave waiting"),
    _e("debounce timer is past due", "WARNING", "debounce", "", "", "the timer fired late"),
    _e("tick budget used: flushes left for the next tick", "WARNING", "debounce", "", "projects",
       "more projects to flush than one tick's budget"),
    _e("changes found by listing: their events never arrived", "WARNING", "debounce", "project",
       "changes deleted first_blob", "the folder differs from what the last snapshot saw, with nothing pending: the "
       "differences are written to the ledger and train with the next batch"),
    _e("project folder compared with its catalog", "INFO", "debounce", "project", "files changes",
       "an idle project's folder listed and compared, SNAPSHOT_RELIST_HOURS after the last time"),
    _e("flush claimed", "INFO", "debounce", "project batch_id", "cut changes new_images",
       "a batch starts: the ledger's changes up to `cut` belong to it"),
    _e("flush taken by another instance", "INFO", "debounce", "project", "",
       "two timer instances raced; the other one goes on"),
    _e("active run cancelled for newer data", "WARNING", "debounce", "project", "job_name",
       "CANCEL_RUNNING_ON_NEW_DATA stopped a run for a newer batch"),
    # The dataset snapshot.
    _e("dataset snapshot continues next tick", "INFO", "dataset", "project batch_id", "progress",
       "a large snapshot goes on in slices"),
    _e("dataset snapshot paused: time budget used", "INFO", "dataset", "project", "progress",
       "a slice used its time budget"),
    _e("dataset snapshot taken", "INFO", "dataset", "project dataset_version", "buckets",
       "the snapshot's files are checked"),
    _e("file quarantined", "WARNING", "dataset", "project", "file field reason quarantine",
       "a bad file copied to the quarantine container with its reason"),
    _e("dataset snapshot published", "INFO", "dataset", "project batch_id dataset_version", "manifest quarantined",
       "the batch's manifest is written"),
    _e("dataset manifest published", "INFO", "dataset", "project dataset_version", "manifest",
       "a manifest written outside a batch (validation route, local validate)"),
    _e("dataset validated", "INFO", "dataset", "project", "dataset_version", "the validation route ran"),
    _e("flush skipped", "INFO", "dataset", "project batch_id", "reason dataset_version",
       "nothing new to train on: no run"),
    # The run.
    _e("training submitted", "INFO", "run", "project batch_id run_id", "job_name dataset_version",
       "the run is queued in Azure ML (or the local trainer)"),
    _e("training already submitted (retry)", "INFO", "run", "project batch_id run_id", "job_name dataset_version",
       "a retried submission found its run already there"),
    _e("run status", "INFO", "run", "project batch_id run_id event_id", "status",
       "Azure ML said the run moved on (queued, preparing, running…)"),
    _e("training run ended", "INFO", "run", "project batch_id run_id event_id", "status reason gpu_hours failure",
       "the run ended; ERROR when it failed, with the trainer's last lines (trainer_last_lines)"),
    _e("training run ended", "ERROR", "run", "project batch_id run_id event_id",
       "status reason gpu_hours failure trainer_last_lines", "the run failed or was cancelled"),
    _e("run event already handled", "INFO", "run", "project batch_id run_id event_id", "status",
       "a redelivered end event: nothing done twice"),
    _e("run event ignored: not a run this service started", "INFO", "run", "", "run_id",
       "an Azure ML run without this service's tags"),
    _e("event ignored: not a run event", "INFO", "run", "", "event_id type", "another Azure ML event type"),
    _e("run lost to the infrastructure: retrying", "WARNING", "run", "project batch_id run_id",
       "reason attempt retry_after", "the machine failed, not the code: the batch trains again later"),
    _e("run lost to the infrastructure: giving up", "ERROR", "run", "project batch_id run_id", "reason attempts",
       "MAX_RUN_ATTEMPTS reached: the changes wait for the next upload"),
    _e("active run checked: still going", "INFO", "run", "project batch_id run_id", "status",
       "no news of the run for a while: Azure ML says it still runs"),
    _e("run reconciled: its end was never delivered", "WARNING", "run", "project batch_id run_id",
       "status reason", "the run's end event was lost; the timer finished it"),
    # Gates and registration.
    _e("release gates passed", "INFO", "gates", "project batch_id run_id", "passed reasons checks",
       "the run's metrics pass every gate"),
    _e("release gates failed", "WARNING", "gates", "project batch_id run_id", "passed reasons checks",
       "a gate failed: reasons says which and by how much"),
    _e("gate settings unusable", "ERROR", "gates", "project batch_id run_id", "error",
       "GATE_OVERRIDES cannot be read: the release is held back"),
    _e("no training report for this run", "WARNING", "gates", "project batch_id run_id", "error",
       "report.html could not be written (the release goes on)"),
    _e("model registered", "INFO", "registration", "project batch_id run_id", "model_name model_version state",
       "the model version is in the registry"),
    _e("model already registered", "INFO", "registration", "project batch_id run_id",
       "model_name model_version state", "a redelivery found the version registered"),
    # Approval.
    _e("approval requested", "WARNING", "approval", "project batch_id run_id", "model_name model_version token_id",
       "a person is asked to approve: the link went to the chat channel (never into a log line: token_id names it)"),
    _e("approval link re-issued", "WARNING", "approval", "project batch_id", "model_name model_version token_id",
       "new links for a pending request (`python -m local_mode approval-link`): the old link no longer works"),
    _e("APPROVAL_SECRET is not set: no approval link can be signed for this model", "ERROR", "approval",
       "project batch_id run_id", "", "misconfiguration: nobody can approve"),
    _e("approval notification failed", "ERROR", "approval", "", "error",
       "the chat webhook refused the card: re-issue the link with `python -m local_mode approval-link`"),
    _e("approval decided", "INFO", "approval", "project batch_id model_version",
       "model_name state approver approver_verified", "who approved or rejected, verified or not"),
    # Release.
    _e("release requested", "INFO", "release", "project batch_id model_version", "",
       "an approved model starts its blue/green release"),
    _e("release queued", "INFO", "release", "project batch_id model_version", "",
       "another release is under way: this one follows"),
    _e("deployment started", "INFO", "release", "project batch_id model_version", "slot model_name runtime",
       "the new slot is being provisioned"),
    _e("smoke test passed", "INFO", "release", "project batch_id model_version", "image detections slot",
       "the new slot answered a held-out image"),
    _e("shadow started", "INFO", "release", "project batch_id model_version", "slot percent live_slot",
       "a share of live traffic is mirrored to the new slot"),
    _e("shadow ended", "INFO", "release", "project batch_id model_version", "slot paired agreement verdict",
       "the two slots' answers on the mirrored requests compared: switch or stop"),
    _e("release switched, baking", "INFO", "release", "project batch_id model_version",
       "slot previous_slot minutes", "all traffic on the new model; the old slot kept at 0% while it bakes"),
    _e("release live", "INFO", "release", "project batch_id model_version", "slot previous_slot model_name",
       "all traffic on the new model, the old slot removed"),
    _e("release rolled back", "ERROR", "release", "project batch_id model_version",
       "reason live_slot live_model_version", "the new slot failed before the switch: traffic stays on the live "
       "model"),
    _e("release rolled back after the switch", "ERROR", "release", "project batch_id model_version",
       "reason live_slot live_model_version seconds_from_first_failure",
       "the new slot failed while baking: all traffic back on the old slot"),
    _e("release notice not sent", "WARNING", "release", "project batch_id model_version", "error",
       "the chat channel did not take the rollback notice (the rollback itself went on)"),
    # The labelling loop.
    _e("labelling export", "INFO", "labelling", "project model_version", "export_id",
       "uncertain production images exported for labelling"),
    _e("collected row unreadable", "WARNING", "labelling", "project model_version", "problem",
       "a collected row the export could not use"),
    _e("labelling notification failed", "WARNING", "labelling", "project model_version", "error",
       "the chat webhook refused the export's card"),
    _e("labelling project created", "INFO", "labelling", "project", "tool_project",
       "the project's Label Studio project was made from its label map"),
    _e("labelling project classes added", "INFO", "labelling", "project", "classes",
       "the Label Studio project gained the label map's new classes (none is ever removed)"),
    _e("labelling tool push", "INFO", "labelling", "project", "folder pushed already_there tool_project",
       "an export's images became Label Studio tasks, the model's boxes drawn"),
    _e("labelling tool push failed", "WARNING", "labelling", "project", "folder error",
       "Label Studio could not take an export: it stays pending and is pushed again on the next daily tick"),
    _e("labelled image received", "INFO", "labelling", "project", "image boxes written",
       "a labeller's submit or correction written into datasets/<project>/label-studio/"),
    _e("labelled image withdrawn", "INFO", "labelling", "project", "image reason removed",
       "a skip, cancellation or deletion in Label Studio took the image back out of the dataset"),
    _e("labelling webhook refused", "WARNING", "labelling", "", "reason",
       "a call to the Label Studio webhook route without the shared secret"),
    _e("drift watched", "INFO", "labelling", "project model_version", "day changes warnings",
       "a day of the live model's outputs against its baseline"),
    _e("drift not watched", "INFO", "labelling", "project model_version", "day reason", "no baseline or no data"),
    _e("drift detected", "WARNING", "labelling", "project model_version", "day warning",
       "the outputs moved away from the baseline"),
    _e("labelling failed", "ERROR", "labelling", "project", "", "the daily export of a project failed"),
    # Operations.
    _e("events dead-lettered", "WARNING", "operations", "",
       "file subscription events replayed reasons last_outcome delivery_attempts subject",
       "Event Grid gave up on events: uploads replayed into the ledger, the file kept under reported/"),
    _e("dead-lettered event refused", "WARNING", "operations", "", "error",
       "a dead-lettered upload event that is not valid: left in the kept file"),
    _e("dead-letter file unreadable", "ERROR", "operations", "", "file error",
       "a dead-letter file that is not JSON: kept under reported/"),
    _e("alert relayed", "WARNING", "operations", "", "alert_rule channel",
       "an Azure Monitor alert sent on to the approval channel"),
    _e("base model added", "INFO", "operations", "", "base_model sha256 architecture input_size num_classes",
       "a model-zoo archive unpacked into the models container"),
    _e("base model refused", "WARNING", "operations", "", "source error", "an archive that is not a zoo model"),
    _e("storage did not answer a page", "ERROR", "operations", "", "route seconds",
       "the status route or the project page timed out on storage (the caller gets 503)"),
    _e("storage failed a page", "ERROR", "operations", "", "route error",
       "the status route or the project page could not read storage (the caller gets 503)"),
    # Local twins (local mode only).
    _e("local trainer started", "INFO", "operations", "", "job_name pid log", "local mode started a trainer"),
    _e("delivering the local run events failed", "ERROR", "operations", "", "job_name",
       "local mode could not deliver a run's end"),
    _e("local HTTP request failed", "ERROR", "operations", "", "client", "local gateway error"),
    _e("collected data not stored yet", "ERROR", "operations", "", "blob error",
       "the local collector could not write a file"),
    # The trainer (Azure ML job logs; the trainer's last lines reach `training run ended`).
    _e("images left out", "WARNING", "trainer", "run_id project dataset_version", "count first",
       "images deleted or changed since the snapshot are not trained by this run (the next run has them as they are)"),
    _e("tfrecords ready", "INFO", "trainer", "run_id project dataset_version", "", "TFRecords built or reused"),
    _e("learning-rate schedule scaled to the run", "INFO", "trainer", "run_id project dataset_version",
       "from_batch_size scale overrides", "pipeline.config follows the run's batch size"),
    _e("pipeline.config written", "INFO", "trainer", "run_id project dataset_version", "overrides warm_start",
       "the fields the run set in the base model's config"),
    _e("warm start decided", "INFO", "trainer", "run_id project dataset_version", "warm_start reason",
       "champion, base model or scratch, and why"),
    _e("resuming from checkpoint", "INFO", "trainer", "run_id", "step files", "a restarted run continues"),
    _e("checkpoint upload failed; retrying on the next pass", "ERROR", "trainer", "run_id", "",
       "a checkpoint did not reach storage"),
    _e("training", "INFO", "trainer", "run_id project dataset_version",
       "steps resumed_from_step replicas global_batch per_replica_batch checkpoint_every chief",
       "the training loop starts"),
    _e("training progress", "INFO", "trainer", "run_id project dataset_version",
       "step total_steps loss steps_per_second eta_seconds", "every few steps"),
    _e("training progress not saved", "WARNING", "trainer", "run_id", "error",
       "the progress blob the project page reads could not be written (training goes on)"),
    _e("worker finished training: the chief evaluates, exports and uploads", "INFO", "trainer", "run_id",
       "timings", "a non-chief worker is done"),
    _e("model exported", "INFO", "trainer", "run_id project dataset_version", "format bytes seconds batched",
       "an extra format (ONNX, TFLite float16 or int8) written beside the SavedModel"),
    _e("model export failed", "WARNING", "trainer", "run_id project dataset_version", "format error",
       "a format could not be written: the package says why, the SavedModel still serves"),
    _e("onnx loops kept as converted", "WARNING", "trainer", "run_id project dataset_version", "format error",
       "model.onnx keeps tf2onnx's per-image NMS and preprocessing loops (not an SSD with a fixed-shape resizer, "
       "or the batched graph did not answer as the converted one): it serves, slower"),
    _e("export accuracy measured", "INFO", "trainer", "run_id project dataset_version",
       "format map_50 map_50_drop max_box_difference max_score_difference",
       "the export scored against the SavedModel on the same validation images"),
    _e("training finished", "INFO", "trainer", "run_id project dataset_version", "map map_50 timings",
       "evaluated and exported"),
    _e("training failed", "ERROR", "trainer", "run_id", "error", "the trainer stopped; failure.json says why"),
    _e("could not write failure.json", "ERROR", "trainer", "run_id", "", "the run will count as lost"),
    _e("MLFLOW_TRACKING_URI is set but mlflow is not installed: metrics stay in metrics.json", "WARNING",
       "trainer", "run_id", "", "metrics are not sent to MLflow"),
    # The endpoint's score.py (AppTraces through the inference server's handler).
    _e("inference server exited: starting it again", "WARNING", "endpoint", "project model_version",
       "slot exit_code", "local mode: a serving deployment's server died; a new one starts on the same model (as "
       "Azure ML restarts a container), and the gateway answers 502 until it is ready"),
    _e("restarting an inference server failed", "ERROR", "endpoint", "project", "slot",
       "local mode: the restart above failed; the next check tries again"),
    _e("model loaded", "INFO", "endpoint", "model_version", "model_name deployment saved_model classes runtime why",
       "a deployment's worker is ready"),
    _e("scored", "INFO", "endpoint", "model_version", "model_name deployment status latency_ms detections width "
       "height request_id", "one request answered"),
    _e("bad request", "WARNING", "endpoint", "model_version", "model_name deployment status error",
       "a request refused with 400 and why"),
    _e("scoring failed", "ERROR", "endpoint", "model_version", "model_name deployment status error latency_ms",
       "the model raised on a request: answered 500, the worker goes on"),
    _e("model takes one image a call: requests are not batched", "WARNING", "endpoint", "model_version",
       "model_name deployment", "a model exported with the OD API's batch-1 signature (before this service "
       "exported an open batch dimension)"),
    _e("TensorFlow threads already set: SCORE_*_OP_THREADS not applied", "WARNING", "endpoint", "", "",
       "score.py loaded into a process where TensorFlow already runs (in-process use, not a deployment)"),
    _e("no data collector configured: inputs and outputs are not collected", "INFO", "endpoint", "", "",
       "collection off"),
    _e("azureml-ai-monitoring missing: inputs and outputs are not collected", "WARNING", "endpoint", "", "",
       "collection off: the package is missing"),
    _e("data collection failed", "ERROR", "endpoint", "", "error", "a request's rows were not collected"),
    _e("telemetry not sent: Application Insights takes Entra ID sign-in only", "WARNING", "endpoint", "", "fix",
       "a deployment with a connection string but no APPLICATIONINSIGHTS_AUTHENTICATION_STRING: its lines stay in "
       "the console log"),
)

BY_MESSAGE: dict[str, tuple[LogEvent, ...]] = {}
for _event in EVENTS:
    BY_MESSAGE[_event.message] = (*BY_MESSAGE.get(_event.message, ()), _event)


def required(message: str, level: str) -> tuple[str, ...]:
    """Every field a line with this message and level always carries (ids first)."""
    for event in BY_MESSAGE.get(message, ()):
        if event.level == level:
            return event.ids + event.fields
    raise KeyError(f"{message!r} at {level} is not in the log contract")


def markdown_table() -> str:
    """The log contract table of docs/monitoring.md."""
    rows = ["| message | level | step | ids | fields | meaning |", "|---|---|---|---|---|---|"]
    for e in EVENTS:
        rows.append(f"| `{e.message}` | {e.level} | {e.step} | {', '.join(e.ids) or '—'} | "
                    f"{', '.join(e.fields) or '—'} | {e.meaning} |")
    return "\n".join(rows)
