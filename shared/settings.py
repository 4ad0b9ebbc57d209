"""One typed settings object, read from environment variables (Function app settings in Azure).

Every field names its variable and says what it is for; the table in docs/settings.md and the Bicep app settings are
checked against this list by tests, so a setting cannot be read here without being declared there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from shared.training import EXPORT_FORMATS


def _setting(env: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


class SettingsError(ValueError):
    """A setting is present but unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # Storage: a connection string (Azurite, local mode) or identity-based service URIs (Azure).
    storage_connection_string: str | None = _setting(
        "DataStorage", None, "Connection string of the data storage account (Azurite in local mode); "
        "leave empty in Azure, where the identity-based settings below are used.")
    blob_service_uri: str | None = _setting(
        "DataStorage__blobServiceUri", None, "Blob endpoint of the data account, for managed identity.")
    table_service_uri: str | None = _setting(
        "DataStorage__tableServiceUri", None, "Table endpoint of the data account, for managed identity.")
    storage_client_id: str | None = _setting(
        "DataStorage__clientId", None, "Client id of the user-assigned identity used for storage "
        "(empty: system-assigned or developer credentials).")
    # Containers.
    datasets_container: str = _setting(
        "DATASETS_CONTAINER", "datasets", "Container people upload images and annotations to, one folder "
        "per project.")
    quarantine_container: str = _setting(
        "QUARANTINE_CONTAINER", "quarantine", "Container that receives a copy of every rejected file and "
        "its reason.")
    manifests_container: str = _setting(
        "MANIFESTS_CONTAINER", "manifests", "Container of dataset manifests (an index per dataset version, its "
        "JSON Lines shards) and each project's catalog of checked files.")
    log_analytics_workspace_id: str | None = _setting(
        "LOG_ANALYTICS_WORKSPACE_ID", None, "Resource id of the Log Analytics workspace behind Application Insights: "
        "the status route links each project's latest batch to its timeline query there (empty: no link).")
    dead_letter_container: str = _setting(
        "DEAD_LETTER_CONTAINER", "eventgrid-deadletters", "Container Event Grid writes the events it gave up on to; "
        "the dead-letter timer reports each file once, replays upload events into the ledger and keeps the file "
        "under reported/.")
    dead_letter_schedule: str = _setting(
        "DEAD_LETTER_SCHEDULE", "0 */5 * * * *", "NCRONTAB schedule of the dead-letter timer (read by the Functions "
        "host through %DEAD_LETTER_SCHEDULE%).")
    # Dataset checks.
    validation_fraction: float = _setting(
        "VALIDATION_FRACTION", 0.2, "Share of images held out for evaluation (stable per image name).")
    max_image_pixels: int = _setting(
        "MAX_IMAGE_PIXELS", 40_000_000, "Images with more pixels are refused as decompression bombs.")
    max_image_bytes: int = _setting(
        "MAX_IMAGE_BYTES", 50 * 1024 * 1024, "Largest image file accepted, in bytes.")
    max_annotation_bytes: int = _setting(
        "MAX_ANNOTATION_BYTES", 1024 * 1024, "Largest per-image annotation file (Pascal VOC XML, YOLO label) or YOLO "
        "class list accepted, in bytes.")
    max_collection_bytes: int = _setting(
        "MAX_COLLECTION_BYTES", 100 * 1024 * 1024, "Largest collection annotation file (COCO JSON, Label Studio JSON, "
        "CVAT XML: one file for many images) accepted, in bytes; the function reads it whole.")
    snapshot_budget_seconds: float = _setting(
        "SNAPSHOT_BUDGET_SECONDS", 300.0, "Time one timer tick spends on a project's dataset snapshot before it "
        "saves its progress and lets the next tick go on (well under the function timeout: 30 min on Flex "
        "Consumption).")
    tick_budget_seconds: float = _setting(
        "TICK_BUDGET_SECONDS", 600.0, "Time one debounce tick spends on flush work across all projects; projects "
        "whose turn comes after it decide only, and flush on a later tick (the order turns by one a minute).")
    snapshot_relist_hours: float = _setting(
        "SNAPSHOT_RELIST_HOURS", 24.0, "A snapshot normally reads only the files the blob events named; after this "
        "long it also lists the project folder and compares ETags, catching changes whose events never arrived.")
    log_level: str = _setting("LOG_LEVEL", "INFO", "Log level of the JSON log lines.")
    request_timeout_seconds: float = _setting(
        "REQUEST_TIMEOUT_SECONDS", 8.0, "How long the status route waits for storage before it answers 503 with the "
        "reason (storage calls themselves give up after 10 s to connect and 30 s to read).")
    # Event core: ledger, debounce, budget.
    expected_blob_topic: str | None = _setting(
        "EXPECTED_BLOB_TOPIC", None, "Resource id of the storage account whose blob events are accepted; events "
        "from any other topic are refused and logged (empty: accept any, for local experiments only).")
    ledger_table: str = _setting("LEDGER_TABLE", "ledger", "Table of blob changes, one row per distinct change.")
    state_table: str = _setting("STATE_TABLE", "projectstate", "Table of each project's debounce/flush state.")
    runs_table: str = _setting("RUNS_TABLE", "runs", "Table of training runs (one row per batch).")
    debounce_schedule: str = _setting(
        "DEBOUNCE_SCHEDULE", "0 * * * * *", "NCRONTAB schedule of the debounce timer (read by the Functions host "
        "through %DEBOUNCE_SCHEDULE%). Once a minute lets a Flex Consumption app scale to zero between bursts; "
        "a schedule of seconds keeps an instance running (and billed) all the time.")
    release_schedule: str = _setting(
        "RELEASE_SCHEDULE", "30 * * * * *", "NCRONTAB schedule of the release timer, which advances deployments "
        "(read by the Functions host through %RELEASE_SCHEDULE%).")
    quiet_seconds: float = _setting(
        "QUIET_SECONDS", 120.0, "Train once no new change has arrived for this many seconds.")
    max_wait_seconds: float = _setting(
        "MAX_WAIT_SECONDS", 1800.0, "Train at the latest this long after the first pending change, even if "
        "uploads keep trickling in.")
    event_lateness_seconds: float = _setting(
        "EVENT_LATENESS_SECONDS", 60.0, "Event Grid delivers in about a second. An upload event that reaches the "
        "service later than this after its time (a delivery retried, a dead-lettered one replayed) is recorded at "
        "its receipt, and a flush only takes changes at least this old (or QUIET_SECONDS, when shorter): a late or "
        "out-of-order event never falls behind a flush's cut.")
    min_new_images: int = _setting("MIN_NEW_IMAGES", 1, "Fewest new or changed images that justify a run "
                                   "(label-only edits train after MAX_WAIT_SECONDS).")
    max_runs_per_day: int = _setting("MAX_RUNS_PER_DAY", 6, "Daily cap on training runs per project (UTC day).")
    max_gpu_hours_per_day: float = _setting(
        "MAX_GPU_HOURS_PER_DAY", 12.0, "Daily cap on GPU hours per project; further runs are held.")
    max_run_attempts: int = _setting(
        "MAX_RUN_ATTEMPTS", 3, "Attempts at training one batch when runs fail for infrastructure reasons (killed, "
        "preempted, lost, storage errors); a failure the trainer reports itself (`trainer failed: …`) is not retried.")
    retry_backoff_seconds: float = _setting(
        "RETRY_BACKOFF_SECONDS", 300.0, "Wait before the second attempt; doubled for each further one.")
    reconcile_after_seconds: float = _setting(
        "RECONCILE_AFTER_SECONDS", 900.0, "After this long without news of an active run, the timer asks the "
        "training backend (Azure ML's jobs.get; locally, the trainer process) and finishes the run's bookkeeping "
        "from the answer, as its completion event would have.")
    cancel_running_on_new_data: bool = _setting(
        "CANCEL_RUNNING_ON_NEW_DATA", False, "When a newer window closes while a run is active: true cancels "
        "the run and trains on the newer data; false (default) waits for the run to end.")
    # Training.
    training_backend: str = _setting("TRAINING_BACKEND", "azureml", "`azureml` (Azure ML jobs) or `local` "
                                     "(a trainer process on this machine).")
    base_model: str = _setting(
        "BASE_MODEL", "base-models/ssd_mobilenet_v2_128", "Folder (in the models container) of the base model: "
        "its pipeline.config and, for fine-tuning, its checkpoint.")
    train_steps: int = _setting("TRAIN_STEPS", 2000, "Training steps per run.")
    export_formats: str = _setting(
        "EXPORT_FORMATS", "onnx", "Formats the trainer writes beside the SavedModel, comma-separated: `onnx` (tf2onnx, "
        "opset 17; what SERVING_RUNTIME=auto serves), `tflite` (SSD models: float16 and full-integer int8 for "
        "devices, the int8 calibrated on training images), each scored against the SavedModel on the validation images "
        "(figures in metrics.json; ONNX gated by GATE_MAX_EXPORT_MAP_DROP, TFLite by GATE_MAX_EDGE_MAP_DROP when "
        "set). Empty: SavedModel only. Conversions run beside the evaluation (on 2 cores about 25 s of CPU for "
        "ONNX, 20 s for TFLite).")
    train_batch_size: int = _setting("TRAIN_BATCH_SIZE", 16, "Global batch size per step (split across GPUs).")
    models_container: str = _setting("MODELS_CONTAINER", "models", "Container of base models and trained models.")
    checkpoints_container: str = _setting(
        "CHECKPOINTS_CONTAINER", "checkpoints", "Container of checkpoints and TensorBoard event files.")
    azure_subscription_id: str | None = _setting("AZURE_SUBSCRIPTION_ID", None, "Subscription of the Azure ML "
                                                 "workspace.")
    azure_resource_group: str | None = _setting("AZURE_RESOURCE_GROUP", None, "Resource group of the workspace.")
    aml_workspace: str | None = _setting("AML_WORKSPACE", None, "Azure ML workspace name.")
    aml_compute: str = _setting("AML_COMPUTE", "gpu-cluster", "Azure ML compute cluster that runs training.")
    aml_environment: str = _setting("AML_ENVIRONMENT", "tfod-trainer-gpu@latest", "Azure ML environment "
                                    "(the trainer image) as name@label or name:version.")
    aml_instance_count: int = _setting("AML_INSTANCE_COUNT", 1, "Nodes per training job (more than one uses "
                                       "MultiWorkerMirroredStrategy).")
    aml_gpus_per_node: int = _setting("AML_GPUS_PER_NODE", 1, "GPUs per node (more than one uses "
                                      "MirroredStrategy).")
    aml_client_id: str | None = _setting("AML_CLIENT_ID", None, "Client id of the identity the function uses "
                                         "for Azure ML (empty: system-assigned).")
    compute_identity_client_id: str | None = _setting(
        "COMPUTE_IDENTITY_CLIENT_ID", None, "Client id of the compute cluster's identity, passed to the trainer "
        "so it reads blobs and writes checkpoints with it.")
    # Release gates (a model must pass all of them to be registered).
    gate_min_map: float = _setting("GATE_MIN_MAP", 0.0, "Lowest COCO mAP@0.5:0.95 a model may have.")
    gate_min_map_50: float = _setting("GATE_MIN_MAP_50", 0.0, "Lowest COCO mAP@0.5 a model may have.")
    gate_min_class_ap: float = _setting("GATE_MIN_CLASS_AP", 0.0, "Lowest AP any class with validation objects "
                                        "may have.")
    gate_min_validation_images: int = _setting("GATE_MIN_VALIDATION_IMAGES", 10, "Fewest validation images a "
                                               "trustworthy evaluation needs.")
    gate_max_regression: float = _setting("GATE_MAX_REGRESSION", 0.01, "How far below the champion's mAP (on "
                                          "the same validation images) a model may score.")
    gate_max_class_regression: float = _setting(
        "GATE_MAX_CLASS_REGRESSION", 0.05, "How far below the champion's AP of the same class (on the same "
        "validation images) a class may score: a retrain must not forget one class while the mean holds.")
    gate_min_class_objects: int = _setting(
        "GATE_MIN_CLASS_OBJECTS", 10, "Fewest validation objects of a class for its AP to be compared with the "
        "champion's (fewer: too noisy to judge).")
    gate_max_export_map_drop: float = _setting(
        "GATE_MAX_EXPORT_MAP_DROP", 0.005, "How far below the SavedModel's mAP@0.5 an export (EXPORT_FORMATS) may "
        "score on the same validation images: a conversion that loses accuracy stops the release.")
    gate_max_edge_map_drop: float | None = _setting(
        "GATE_MAX_EDGE_MAP_DROP", None, "The same for the device exports (`tflite` in EXPORT_FORMATS: float16 and "
        "int8): unset, their figures are reported but do not hold a release back; set it (or max_edge_map_drop in "
        "GATE_OVERRIDES) when a project ships them.")
    gate_overrides: str | None = _setting(
        "GATE_OVERRIDES", None, "Per-project gates as JSON, e.g. `{\"cars\": {\"min_map_50\": 0.6}}`; fields: "
        "min_map, min_map_50, min_class_ap, min_validation_images, max_regression, max_class_regression, "
        "min_class_objects, max_export_map_drop, max_edge_map_drop.")
    approval_secret: str | None = _setting(
        "APPROVAL_SECRET", None, "Secret that signs approval links (HMAC-SHA256); in Azure a Key Vault reference.")
    approval_ttl_hours: float = _setting("APPROVAL_TTL_HOURS", 72.0, "How long an approval link stays valid.")
    approval_webhook_url: str | None = _setting(
        "APPROVAL_WEBHOOK_URL", None, "Teams or Slack incoming-webhook URL that receives each approval request as a "
        "card with an \"Open approval page\" button (a Slack URL gets Block Kit, any other an Adaptive Card; empty: "
        "no card: `python -m local_mode approval-link` prints a link; links are never logged).")
    approvers: str | None = _setting(
        "APPROVERS", None, "Who may decide, per project as JSON (`{\"*\": [\"ana@contoso.com\"], \"cars\": "
        "[\"<object id>\"]}`): e-mails or Entra object ids of people signed in through the function app's "
        "authentication. Empty: anyone with the link, recorded by the name typed (unverified) unless signed in.")
    # Deployment of approved models (blue/green online endpoint, one per project).
    releases_table: str = _setting("RELEASES_TABLE", "releases", "Table of each project's endpoint: live "
                                   "deployment, traffic and the release in progress; and one record per release "
                                   "that ended (`history:<project>`).")
    endpoint_kind: str = _setting("ENDPOINT_KIND", "managed", "`managed` (Azure ML managed online endpoint) or "
                                  "`kubernetes` (an AKS cluster attached to the workspace).")
    endpoint_name_prefix: str = _setting("ENDPOINT_NAME_PREFIX", "tfod", "Endpoint names are `<prefix>-<project>` "
                                         "(endpoint names are unique per Azure region: use the environment token).")
    kubernetes_compute: str | None = _setting("KUBERNETES_COMPUTE", None, "Name of the attached Kubernetes compute "
                                              "(only with ENDPOINT_KIND=kubernetes).")
    serving_environment: str = _setting("AML_SERVING_ENVIRONMENT", "tfod-serving-cpu@latest", "Azure ML "
                                        "environment that runs score.py (TensorFlow + azureml-inference-server-http).")
    serving_onnx_environment: str = _setting(
        "AML_SERVING_ONNX_ENVIRONMENT", "tfod-serving-onnx@latest", "Azure ML environment that runs score.py for "
        "models served by ONNX Runtime (trainer_image/Dockerfile.serving-onnx: no TensorFlow).")
    serving_instance_type: str | None = _setting(
        "SERVING_INSTANCE_TYPE", None, "VM size of each managed deployment (empty: `Standard_DS3_v2`) or instance "
        "type of each Kubernetes deployment, as defined on the attached cluster (empty: `defaultinstancetype`, the "
        "one Azure ML's Kubernetes extension creates).")
    serving_instance_count: int = _setting("SERVING_INSTANCE_COUNT", 1, "Instances per deployment.")
    serving_threads: int = _setting("SERVING_THREADS", 16, "Requests one inference server worker takes at once "
                                    "(gunicorn threads; one model in memory serves them all; the requests inside "
                                    "share model calls, see SERVING_MAX_BATCH). On Azure also the deployment's max "
                                    "concurrent requests per instance.")
    serving_workers: int = _setting(
        "SERVING_WORKERS", 0, "Inference server worker processes per instance (each with its own copy of the model "
        "and SERVING_THREADS threads). 0: by runtime — TensorFlow 1 (its ops already use every core; a second copy "
        "measured slower), ONNX Runtime 2 (there the server's Python is the bottleneck and a second process takes "
        "it to a second core). Deployed as the deployment's WORKER_COUNT.")
    serving_max_batch: int = _setting("SERVING_MAX_BATCH", 8, "Most concurrent requests of one worker that score.py "
                                      "runs as one model call (dynamic batching; 1: off). Deployed as the "
                                      "deployment's SCORE_MAX_BATCH.")
    serving_batch_wait_ms: float = _setting("SERVING_BATCH_WAIT_MS", 5.0, "Longest a request waits for the "
                                            "others already inside its worker to join its batch (a lone request "
                                            "never waits). Deployed as SCORE_BATCH_WAIT_MS.")
    serving_runtime: str = _setting(
        "SERVING_RUNTIME", "auto", "What runs the model in score.py: `auto` (ONNX Runtime when the model has an ONNX "
        "export whose parity the trainer measured, see EXPORT_FORMATS; TensorFlow otherwise), `onnx` or "
        "`tensorflow`. Deployed as the deployment's SERVING_RUNTIME.")
    endpoint_identity_id: str | None = _setting("ENDPOINT_IDENTITY_ID", None, "Resource id of the user-assigned "
                                                "identity the endpoints run as (empty: system-assigned).")
    endpoint_identity_client_id: str | None = _setting("ENDPOINT_IDENTITY_CLIENT_ID", None, "Client id of that "
                                                       "identity; the data collector writes with it.")
    endpoint_telemetry_connection_string: str = _setting(
        "ENDPOINT_TELEMETRY_CONNECTION_STRING", "", "Application Insights connection string the endpoints' score.py "
        "sends its log lines to, signed in as the endpoint identity (the resource takes no instrumentation key). "
        "Empty: the lines stay in the deployment's console log.")
    inference_data_container: str = _setting("INFERENCE_DATA_CONTAINER", "inference-data", "Container that "
                                             "receives the endpoint's collected inputs and outputs.")
    labelling_container: str = _setting("LABELLING_CONTAINER", "to-label", "Container that receives the exports "
                                        "for labelling: `<project>/<export id>/` with export.zip (the images and "
                                        "the model's boxes as pre-annotations, in LABELLING_EXPORT_FORMAT) and "
                                        "export.json.")
    labelling_schedule: str = _setting("LABELLING_SCHEDULE", "0 0 4 * * *", "NCRONTAB schedule of the labelling "
                                       "timer (read by the Functions host through %LABELLING_SCHEDULE%): each live "
                                       "project's export, and its drift watch for the day before (UTC).")
    labelling_lookback_days: float = _setting("LABELLING_LOOKBACK_DAYS", 7.0, "An export reads requests collected "
                                              "since the last one, at most this far back.")
    labelling_max_images: int = _setting("LABELLING_MAX_IMAGES", 200, "Most images per export (the least "
                                         "confident first; the rest are listed in export.json as skipped).")
    labelling_score_threshold: float = _setting("LABELLING_SCORE_THRESHOLD", 0.5, "An image without a detection "
                                                "at or above this score is exported (the model missed something).")
    labelling_band_low: float = _setting("LABELLING_BAND_LOW", 0.3, "Lower end of the uncertainty band: an image "
                                         "whose top score is in the band is exported.")
    labelling_band_high: float = _setting("LABELLING_BAND_HIGH", 0.6, "Upper end (exclusive) of the uncertainty "
                                          "band.")
    labelling_confident_share: float = _setting("LABELLING_CONFIDENT_SHARE", 0.02, "Share of confident images "
                                                "exported at random, to catch confident mistakes.")
    labelling_pre_annotation_score: float = _setting("LABELLING_PRE_ANNOTATION_SCORE", 0.2, "The model's boxes at "
                                                     "or above this score are written into the pre-annotations.")
    labelling_export_format: str = _setting(
        "LABELLING_EXPORT_FORMAT", "pascal-voc", "Format of the labelling exports, the one your labelling tool "
        "imports: pascal-voc, coco, cvat (CVAT for images 1.1) or label-studio (tasks with the model's boxes as "
        "predictions); per project through LABELLING_OVERRIDES' export_format.")
    labelling_overrides: str | None = _setting(
        "LABELLING_OVERRIDES", None, "Per-project selection as JSON, e.g. `{\"cars\": {\"max_images\": 50}}`; "
        "fields: score_threshold, band_low, band_high, overlap_iou, confident_share, near_duplicate_bits, "
        "max_images, pre_annotation_score, export_format.")
    label_studio_url: str | None = _setting(
        "LABEL_STUDIO_URL", None, "Your team's Label Studio (any URL the function app reaches): each labelling export "
        "becomes tasks there, the model's boxes drawn, least sure first, and each submitted annotation comes back "
        "into `datasets/<project>/label-studio/` by webhook. Empty: exports stay in LABELLING_CONTAINER only.")
    label_studio_token: str | None = _setting(
        "LABEL_STUDIO_TOKEN", None, "A personal access token of a Label Studio user (Account & Settings → Personal "
        "Access Token); a legacy token works where your Label Studio still allows them. In Azure a Key Vault "
        "reference.")
    label_studio_webhook_secret: str | None = _setting(
        "LABEL_STUDIO_WEBHOOK_SECRET", None, "Shared secret Label Studio's webhook sends in X-Label-Studio-Secret; "
        "the service registers the webhook with it. In Azure a Key Vault reference.")
    drift_max_no_detection_change: float = _setting("DRIFT_MAX_NO_DETECTION_CHANGE", 0.15, "Drift warning when the "
                                                    "share of production images without a detection differs from "
                                                    "the validation images' by more than this.")
    drift_max_top_score_change: float = _setting("DRIFT_MAX_TOP_SCORE_CHANGE", 0.10, "Drift warning when the mean "
                                                 "top score moves by more than this.")
    drift_max_class_mix_change: float = _setting("DRIFT_MAX_CLASS_MIX_CHANGE", 0.20, "Drift warning when the mix "
                                                 "of detected classes moves by more than this (total variation "
                                                 "distance, 0 to 1).")
    drift_min_images: int = _setting("DRIFT_MIN_IMAGES", 20, "Fewer production images in a day: the figures are "
                                     "logged but no drift warning is raised.")
    deployment_timeout_minutes: float = _setting("DEPLOYMENT_TIMEOUT_MINUTES", 45.0, "A new deployment not ready "
                                                 "by then is removed and traffic stays where it was.")
    release_shadow_percent: int = _setting(
        "RELEASE_SHADOW_PERCENT", 10, "Share of live requests (percent, at most 50) mirrored to a new slot after its "
        "smoke test, before any traffic moves; its answers are compared with the live model's (0: no shadow step).")
    release_shadow_minutes: float = _setting("RELEASE_SHADOW_MINUTES", 30.0, "Longest shadow step: the verdict is "
                                             "taken then, on the requests paired so far.")
    release_shadow_requests: int = _setting("RELEASE_SHADOW_REQUESTS", 200, "Mirrored requests paired with the live "
                                            "model's answers that end the shadow step early.")
    release_shadow_min_agreement: float = _setting(
        "RELEASE_SHADOW_MIN_AGREEMENT", 0.25, "Least share of paired requests on which both models found the same "
        "objects (same class, IoU >= 0.5, above the request's threshold) for the switch to go ahead. The live model "
        "is not the truth: a better model disagrees often (the demo's +0.125 mAP retrain agreed on 35%).")
    release_shadow_max_class_loss: float = _setting(
        "RELEASE_SHADOW_MAX_CLASS_LOSS", 0.6, "Largest share of one class's objects (found by the live model in the "
        "paired requests) the new model may miss: above it the release stops, naming the class.")
    release_shadow_min_class_objects: int = _setting(
        "RELEASE_SHADOW_MIN_CLASS_OBJECTS", 10, "Fewest objects of a class the live model found in the paired "
        "requests for that class's loss to be judged.")
    release_shadow_without_traffic: str = _setting(
        "RELEASE_SHADOW_WITHOUT_TRAFFIC", "switch", "What a shadow step with no paired request by its end does: "
        "switch (the smoke test and gates stand) or stop (the release is rolled back).")
    release_shadow_order: str = _setting(
        "RELEASE_SHADOW_ORDER", "approve-then-shadow", "approve-then-shadow: a model is deployed and shadowed once "
        "approved; shadow-then-approve: a model that passed its gates is deployed and shadowed while its approval "
        "waits (the approval page shows the figures), and switches when approved.")
    release_bake_minutes: float = _setting(
        "RELEASE_BAKE_MINUTES", 30.0, "After the switch the old slot stays deployed at 0% this long, and the new "
        "slot's health is watched: past a limit below, traffic goes back in one step (0: the old slot is removed at "
        "the switch).")
    release_max_error_share: float = _setting("RELEASE_MAX_ERROR_SHARE", 0.05, "Largest share of a new slot's "
                                              "requests that may fail (5xx) while shadowed or baking.")
    release_max_p95_ms: float = _setting("RELEASE_MAX_P95_MS", 2000.0, "Largest p95 latency (ms) of a new slot "
                                         "while shadowed or baking.")
    release_max_no_detection_share: float = _setting(
        "RELEASE_MAX_NO_DETECTION_SHARE", 0.95, "Largest share of a new slot's answers with no detection while "
        "baking (a model that went blind answers 200 with nothing found).")
    release_min_requests: int = _setting("RELEASE_MIN_REQUESTS", 10, "Fewest requests a new slot must have answered "
                                         "before its health limits are judged (errors, latency, no detections).")
    local_endpoint_port: int = _setting("LOCAL_ENDPOINT_PORT", 0, "Local mode: port of the local endpoint on "
                                        "127.0.0.1 (0: any free port).")
    local_endpoint_key: str | None = _setting("LOCAL_ENDPOINT_KEY", None, "Local mode: the endpoint's API key "
                                              "(empty: a random one, printed at start).")
    auth_enabled: bool = _setting(
        "WEBSITE_AUTH_ENABLED", False, "Set by the platform when App Service authentication runs in front of the "
        "app: the approval page then offers to sign in, and records the signed-in person as the approver.")
    public_host: str | None = _setting(
        "WEBSITE_HOSTNAME", None, "Host name of the function app, set by the platform; approval links point at it "
        "(local mode: 127.0.0.1).")
    local_trainer_command: str = _setting(
        "LOCAL_TRAINER_COMMAND", "python -m trainer_image.train", "Local mode: command that runs the trainer.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from `env` (default: the process environment), casting to the field's type."""
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _cast(f.metadata["env"], raw, hints[f.name])
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        unknown = set(self.exports) - set(EXPORT_FORMATS)
        if unknown:
            raise SettingsError(f"setting EXPORT_FORMATS={self.export_formats!r}: {', '.join(sorted(unknown))} is "
                                f"not a format the trainer writes (use {', '.join(EXPORT_FORMATS)})")
        if self.serving_runtime not in ("auto", "onnx", "tensorflow"):
            raise SettingsError(f"setting SERVING_RUNTIME={self.serving_runtime!r}: use auto, onnx or tensorflow")
        if self.endpoint_kind not in ("managed", "kubernetes"):
            raise SettingsError(f"setting ENDPOINT_KIND={self.endpoint_kind!r}: use managed or kubernetes")
        if self.label_studio_url and not (self.label_studio_token and self.label_studio_webhook_secret):
            missing = [n for n, v in (("LABEL_STUDIO_TOKEN", self.label_studio_token),
                                      ("LABEL_STUDIO_WEBHOOK_SECRET", self.label_studio_webhook_secret)) if not v]
            raise SettingsError(f"setting LABEL_STUDIO_URL={self.label_studio_url!r} needs {' and '.join(missing)}")
        if not 0 <= self.release_shadow_percent <= 50:
            raise SettingsError(f"setting RELEASE_SHADOW_PERCENT={self.release_shadow_percent}: use 0 to 50 (Azure ML "
                                "mirrors at most half of the traffic)")
        if self.release_shadow_order not in ("approve-then-shadow", "shadow-then-approve"):
            raise SettingsError(f"setting RELEASE_SHADOW_ORDER={self.release_shadow_order!r}: use approve-then-shadow "
                                "or shadow-then-approve")
        if self.release_shadow_without_traffic not in ("switch", "stop"):
            raise SettingsError(f"setting RELEASE_SHADOW_WITHOUT_TRAFFIC={self.release_shadow_without_traffic!r}: use "
                                "switch or stop")
        if self.endpoint_kind == "kubernetes" and (self.serving_instance_type or "").startswith("Standard_"):
            raise SettingsError(
                f"setting SERVING_INSTANCE_TYPE={self.serving_instance_type!r} is a VM size, but Kubernetes "
                "deployments take an instance type defined on the cluster (e.g. defaultinstancetype)")

    def public_url(self, path: str) -> str:
        """An absolute link to one of this app's routes (`/api/...`): https on Azure, http on 127.0.0.1."""
        host = self.public_host or "127.0.0.1"
        scheme = "http" if host.startswith(("127.", "localhost")) else "https"
        return f"{scheme}://{host}{path}"

    @property
    def lateness_seconds(self) -> float:
        """EVENT_LATENESS_SECONDS, or QUIET_SECONDS when shorter: a settled window is never held up by it."""
        return min(self.event_lateness_seconds, self.quiet_seconds)

    @property
    def exports(self) -> tuple[str, ...]:
        """EXPORT_FORMATS as a list, in order, without repeats."""
        return tuple(dict.fromkeys(f.strip().lower() for f in self.export_formats.split(",") if f.strip()))

    @property
    def deployment_instance_type(self) -> str:
        """What a deployment asks for: the setting, or the default of the endpoint's kind."""
        if self.serving_instance_type:
            return self.serving_instance_type
        return "defaultinstancetype" if self.endpoint_kind == "kubernetes" else "Standard_DS3_v2"


def _cast(name: str, raw: str, hint: Any) -> Any:
    target = next((t for t in (int, float, bool) if hint is t or str(hint).startswith(t.__name__)), str)
    try:
        if target is bool:
            if raw.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"true", "1", "yes"}
        return target(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}={raw!r} is not a valid {target.__name__}") from exc


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, meaning) for every setting, for docs/settings.md and the Bicep check."""
    return [(f.metadata["env"], f.default, f.metadata["doc"]) for f in dataclasses.fields(Settings)]


def markdown_table() -> str:
    """The settings table of docs/settings.md, generated so it cannot drift from the code."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, default, doc in documented_settings():
        rows.append(f"| `{name}` | {'' if default is None else f'`{default}`'} | {doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
