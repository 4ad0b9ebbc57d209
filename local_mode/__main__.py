"""Local mode command line: `python -m local_mode run` is the README's main command."""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from local_mode import approval_link, demo_data, labelling_demo
from local_mode.approval_click import decide_through_page
from local_mode.azurite import REPO_ROOT, Azurite, DataFolderBusy
from local_mode.event_source import LOCAL_STORAGE_TOPIC
from local_mode.functions_host import FunctionsHost, WebhookInbox
from local_mode.loop import LocalLoop, trainer_command
from shared import log_timeline, logs
from shared.adapters.archive_download import fetch
from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.adapters.child_processes import watch_children
from shared.base_models import ArchiveError, ArchiveLimits
from shared.dataset.layout import is_unread_annotation, role_of
from shared.dataset.service import DatasetBuilder
from shared.labelling.export_files import unzipped
from shared.pipeline.base_models import BaseModels
from shared.pipeline.labelling import Labelling
from shared.registry import model_name_for
from shared.settings import Settings
from shared.training import model_folder

log = logging.getLogger("local_mode")
LOG_FILE = REPO_ROOT / ".local" / "logs" / "local-mode.jsonl"
DOCUMENT = sys.stdout
"""Where a command's JSON document goes: stdout, which holds nothing else with --json (progress goes to stderr)."""


def upload_folder(store: AzureBlobStore, settings: Settings, folder: Path, project: str) -> int:
    """Upload every dataset file under `folder` to `<datasets>/<project>/…`, keeping relative paths (and
    annotation files no reader takes, so the report names them)."""
    store.ensure_container(settings.datasets_container)
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if role_of(relative) != "other" or is_unread_annotation(relative) or "imagesets/" in relative.lower():
            store.write(settings.datasets_container, f"{project}/{relative}", path.read_bytes())
            count += 1
    return count


def validate(settings: Settings, project: str, *, as_json: bool, out: Any = None) -> int:
    store = AzureBlobStore.from_settings(settings)
    builder = DatasetBuilder(store, settings, persist=False)
    build = builder.build(project)
    if build.manifest["counts"]["images"]:
        builder.publish(build)
    print(json.dumps(build.report.to_dict(), indent=1) if as_json else build.report.render(), file=out or sys.stdout)
    return 0 if build.manifest["counts"]["images"] else 1


def base_model(settings: Settings, args: argparse.Namespace) -> int:
    """`base-model add SOURCE` / `base-model list`, against the storage in DataStorage."""
    models = BaseModels(AzureBlobStore.from_settings(settings), settings)
    if args.base_command == "list":
        found = models.list()
        print(json.dumps(found, indent=1) if args.json else "\n".join(
            f"{m['name']}: {m.get('architecture', '?')} {m.get('input_size', '')}, {m.get('num_classes', '?')} "
            f"classes, from {m['source']}" for m in found) or "no base models")
        return 0
    try:
        source = args.source
        data = fetch(source, ArchiveLimits().max_bytes) if source.startswith(("https://", "http://")) \
            else Path(source).read_bytes()
        added = models.add(data, source, args.name)
    except (ArchiveError, OSError) as exc:
        if args.json:
            print(json.dumps({"error": str(exc)}))
        _say(f"[base-model] refused: {exc}")
        return 1
    if args.json:
        print(json.dumps(added, indent=1))
    else:
        print(("added" if added["added"] else "already there") + f": {added['folder']} ({added['architecture']}, "
              f"{added['input_size']}, {added['num_classes']} classes); set BASE_MODEL={added['base_model_setting']}")
    return 0


def export_labels(settings: Settings, args: argparse.Namespace) -> int:
    """The labelling export on demand, against the storage in DataStorage (the timer does it daily)."""
    blobs = AzureBlobStore.from_settings(settings)
    summary = Labelling(AzureTableStore.from_settings(settings), blobs, settings).export(args.project)
    if args.download and summary.get("exported"):
        archive = blobs.read(settings.labelling_container, summary["archive"].split("/", 1)[1]).data
        target = Path(args.download) / summary["export_id"]
        for name, data in unzipped(archive).items():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(data)
        (target.parent / f"{summary['export_id']}.zip").write_bytes(archive)
        summary["downloaded_to"] = str(target)
    if args.json:
        print(json.dumps(summary, indent=1))
    elif summary.get("exported"):
        print(f"{summary['exported']} images need labels: {summary['folder']}"
              + (f" (copied to {summary['downloaded_to']})" if "downloaded_to" in summary else ""))
    else:
        print(f"nothing to label: {summary.get('reason')}")
    return 0 if "export_id" in summary else 1


def local_settings(env: Settings, args: argparse.Namespace, azurite: Azurite, host: FunctionsHost,
                   webhook_url: str) -> Settings:
    """The service's settings for local mode: Azurite, the local trainer, the demo's gate, this run's knobs."""
    return env.with_overrides(
        storage_connection_string=azurite.connection_string, training_backend="local",
        local_trainer_command=trainer_command(), quiet_seconds=args.quiet_seconds, min_new_images=1,
        train_steps=args.steps, train_batch_size=args.batch_size, base_model="base-models/ssd_mobilenet_v2_128",
        approval_secret=env.approval_secret or secrets.token_urlsafe(32), public_host=host.host,
        expected_blob_topic=env.expected_blob_topic or LOCAL_STORAGE_TOPIC,
        approval_webhook_url=webhook_url, gate_min_map_50=args.gate_min_map_50,
        gate_min_validation_images=min(env.gate_min_validation_images, 10),
        # a trainer here is watched by this very process: ask it after 30 s of silence, retry lost runs soon
        reconcile_after_seconds=float(os.environ.get("RECONCILE_AFTER_SECONDS", 30)),
        retry_backoff_seconds=float(os.environ.get("RETRY_BACKOFF_SECONDS", 10)))


def data_folder(args: argparse.Namespace) -> Path | None:
    """Where Azurite keeps its files with --keep-data (locked: one local mode per folder); None: a fresh one."""
    return Path(args.data_dir) if args.keep_data else None


def run(args: argparse.Namespace) -> int:
    """Start Azurite, the functions' HTTP front and a webhook inbox, drop a dataset in the way a user would, then
    let the event loop train, gate, register, and (approved) release it to the local endpoint."""
    clock = StageClock()
    with Azurite(data_folder(args)) as azurite, tempfile.TemporaryDirectory() as scratch:
        host, inbox = FunctionsHost(args.port), WebhookInbox()
        settings = local_settings(Settings.from_env(), args, azurite, host, inbox.url)
        clock.lap("start Azurite and the local functions host")
        print(f"[local] Azurite on 127.0.0.1 (blob {azurite.ports['blob']}, table {azurite.ports['table']}); "
              f"functions on http://{host.host}/api (function key {host.key}; status: "
              f"{host.url(f'status/{args.project}')})")
        loop = LocalLoop(settings, azurite.blob_endpoint, Path(scratch) / "runs")
        try:
            _recover(loop)
            code = _drop_first_batch(settings, args, Path(scratch), clock)
            if code is None:
                code = _train_and_release(loop, settings, args, inbox, clock)
                if args.serve:
                    if code:
                        print("[local] nothing went live this time (see above); still serving: fix the data and "
                              "upload again, and the next run follows")
                    _serve_until_interrupted(loop, settings, args)
        except KeyboardInterrupt:
            print("\n[local] interrupted: stopping everything this command started")
            code = 130
        finally:
            loop.close()
            host.close()
            inbox.close()
            clock.summary["started"] = {"pids": [azurite.process.pid, *loop.endpoints.started,
                                                 *(p.pid for p in loop.backend.processes())],
                                        "ports": [host.port, azurite.ports["blob"], azurite.ports["table"]]}
        print(clock.render())
        if args.summary:
            Path(args.summary).write_text(json.dumps(clock.summary | {"exit_code": code}, indent=1))
        return code


def serve(args: argparse.Namespace) -> int:
    """The local twin of a deployed service, empty and waiting: Azurite, the functions' routes, the event source,
    both timers, the trainer and the endpoint. Upload into it (or point `smoke` at it) and it does the rest."""
    with Azurite(data_folder(args)) as azurite, tempfile.TemporaryDirectory() as scratch:
        host, inbox = FunctionsHost(args.port), WebhookInbox()
        env = Settings.from_env()
        settings = local_settings(env, args, azurite, host, env.approval_webhook_url or inbox.url)
        loop = LocalLoop(settings, azurite.blob_endpoint, Path(scratch) / "runs", say=_say)
        try:
            loop.install_base_model()
            loop.blobs.ensure_container(settings.datasets_container)
            _recover(loop)
            started = {"function_url": f"http://{host.host}/api", "function_key": host.key,
                       "connection_string": azurite.connection_string,
                       "datasets_container": settings.datasets_container, "endpoint_key": loop.endpoints.key,
                       "approval_webhook": settings.approval_webhook_url}
            if args.json:
                print(json.dumps(started), flush=True)
            _say(f"[serve] functions on {started['function_url']} (function key {host.key}; status: "
                 f"{host.url('status')}); endpoint key {loop.endpoints.key}")
            _say(f"[serve] upload: DataStorage='{azurite.connection_string}' python -m local_mode upload FOLDER "
                 "--project NAME; Ctrl-C stops everything")
            shown = 0
            while True:
                loop.source.poll()
                loop.tick()
                loop.release_tick()
                for link in inbox.links()[shown:]:
                    _say(f"[serve] approval requested: open {link}")
                shown = len(inbox.links())
                time.sleep(args.interval)
        except KeyboardInterrupt:
            _say("[serve] stopping everything this command started")
            return 0
        finally:
            loop.close()
            host.close()
            inbox.close()


def _recover(loop: LocalLoop) -> None:
    """What a killed local mode left behind in a kept data folder: runs whose trainer died with it are finished
    now (reported as lost, and retried like any run lost to the infrastructure)."""
    for job in loop.services.reconcile().reconcile_all(force=True):
        _say(f"[local] run {job} was interrupted when local mode stopped: reported, and its changes train again")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def smoke(args: argparse.Namespace) -> int:
    """The post-deployment smoke test (local_mode/smoke.py) against Azure or a local twin; JSON summary on stdout
    with --json, progress on stderr."""
    from local_mode.smoke import FunctionApp, Smoke, SmokeFailure
    from local_mode.smoke_targets import AzureTarget, LocalTarget

    try:
        if args.azure:
            target = AzureTarget.from_env()
        else:
            settings = Settings.from_env()
            if not (args.function_url and args.function_key and args.endpoint_key
                    and settings.storage_connection_string):
                _say("smoke without --azure needs --function-url, --function-key, --endpoint-key and DataStorage "
                     "(what `python -m local_mode serve` prints)")
                return 2
            target = LocalTarget(AzureBlobStore.from_settings(settings),
                                 FunctionApp(args.function_url, args.function_key), args.endpoint_key,
                                 settings.datasets_container)
        timeouts = {name: getattr(args, f"{name}_timeout") for name in Smoke.DEFAULT_TIMEOUTS
                    if getattr(args, f"{name}_timeout") is not None}
        check = Smoke(target, **({"project": args.project} if args.project else {}), images=args.images,
                      timeouts=timeouts, approval_link=args.approval_link, poll=args.poll)
        summary: dict = {"project": check.project, "ok": False}
        try:
            summary = check.run()
        except SmokeFailure as exc:
            summary |= {"error": str(exc), "steps": [s.__dict__ for s in check.steps]}
            _say(f"[smoke] FAILED: {exc}")
        if args.cleanup:
            summary["removed"] = check.cleanup(summary.get("model", {}).get("name") or model_name_for(check.project))
    except SmokeFailure as exc:
        summary = {"ok": False, "error": str(exc)}
        _say(f"[smoke] FAILED: {exc}")
    if args.json:
        print(json.dumps(summary, indent=1))
    elif summary.get("ok"):
        _say(f"[smoke] passed: {summary['model']['name']} version {summary['model']['version']} serves at "
             f"{summary['scoring_uri']}")
    return 0 if summary.get("ok") else 1


def _drop_first_batch(settings: Settings, args: argparse.Namespace, scratch: Path, clock: StageClock) -> int | None:
    folder = Path(args.dataset) if args.dataset else None
    if folder is None:
        folder = scratch / "demo"
        demo_data.write_files(folder, demo_data.demo_export(args.demo_images, args.demo_format, seed=args.seed))
        layout = {"pascal-voc": "VoTT's Pascal VOC layout", "coco": "a COCO export (CVAT's layout)",
                  "yolo": "an Ultralytics YOLO export", "cvat": "a CVAT for images 1.1 export",
                  "label-studio": "a Label Studio JSON export"}[args.demo_format]
        print(f"[local] made a demo dataset: {args.demo_images} images in {layout}")
    count = upload_folder(AzureBlobStore.from_settings(settings), settings, folder, args.project)
    print(f"[local] uploaded {count} files to {settings.datasets_container}/{args.project}/")
    code = validate(settings, args.project, as_json=args.json, out=DOCUMENT)
    clock.lap("make and upload the dataset, validate it")
    return code if args.validate_only or code else None


def _train_and_release(loop: LocalLoop, settings: Settings, args: argparse.Namespace, inbox: WebhookInbox,
                       clock: StageClock) -> int:
    loop.install_base_model()
    print(f"[local] event loop started: quiet period {settings.quiet_seconds:g}s, {settings.train_steps} "
          f"training steps (batch {settings.train_batch_size})")
    model = _train_once(loop, settings, args, clock, "first batch")
    if model is None:
        return 1
    if not _release(loop, args, inbox, model, clock):
        return 1
    clock.summary["detections"] = _detect(loop, args, seed=31_337, count=args.check_images)
    clock.lap("detection requests")
    if args.labelling_demo:
        return _labelling_demo(loop, settings, args, clock, model)
    if args.second_batch:
        extra = demo_data.vott_export(args.demo_images // 2, seed=args.seed + 1, per_image=3,
                                      start=args.demo_images)
        for name, data in extra.items():
            loop.blobs.write(settings.datasets_container, f"{args.project}/{name}", data)
        print(f"[local] second, harder batch uploaded: {args.demo_images // 2} images with 3 shapes each")
        second = _train_once(loop, settings, args, clock, "second batch (incremental)", after=model["batch_id"])
        if second is not None and _release(loop, args, inbox, second, clock):
            clock.summary["second_detections"] = _detect(loop, args, seed=424_242, count=args.check_images)
    return 0


def _labelling_demo(loop: LocalLoop, settings: Settings, args: argparse.Namespace, clock: StageClock,
                    champion: dict) -> int:
    """Harder production traffic → export of what the model was unsure about → a person's labels → retrain."""
    labelling, project = loop.services.labelling(), args.project
    since = datetime.now(UTC) - timedelta(minutes=1)
    images = labelling_demo.production_images(args.production_images, seed=args.seed + 7)
    truth = labelling_demo.send(loop.endpoints.describe(project)["scoring_uri"], loop.endpoints.key, images)
    seen = labelling_demo.wait_collected(labelling, settings, project, since, len(images))
    print(f"[labelling] {len(images)} production images scored (most like the training data, a third harder: "
          f"three washed-out shapes); the data collector stored {seen}")
    summary = labelling.export(project)
    clock.summary["labelling_export"] = summary
    if not summary.get("exported"):
        print(f"[labelling] nothing to label: {summary.get('reason')}")
        return 1
    reasons = ", ".join(f"{n} {kind}" for kind, n in summary["reasons"].items())
    print(f"[labelling] export {summary['export_id']}: {summary['exported']} of {summary['requests']} images need "
          f"labels ({reasons}), pre-annotated: {summary['archive']} (Pascal VOC zip for CVAT) and export.json")
    files = labelling_demo.relabel(loop.blobs, settings, project, summary["export_id"], truth)
    target = f"{project}/labelled/{summary['export_id']}/"
    for name, data in files.items():
        loop.blobs.write(settings.datasets_container, target + name, data)
    labelled = len(files) // 2
    clock.summary["labelled"] = labelled
    print(f"[labelling] a person corrected the pre-annotations: {labelled} images dropped back into "
          f"{settings.datasets_container}/{target}" + (f" ({summary['exported'] - labelled} exported images "
                                                        "were not production images of the demo: the release's "
                                                        "smoke test and the held-out checks; left out)"
                                                        if labelled < summary["exported"] else ""))
    if not labelled:
        return 1
    clock.lap("production traffic → export for labelling → labels back")
    _train_once(loop, settings, args, clock, "with the labelled production images", after=champion["batch_id"])
    runs = clock.summary.get("runs", [])
    return 0 if len(runs) >= 2 and runs[-1]["status"] == "Completed" else 1  # failed gates are an answer too


def _train_once(loop: LocalLoop, settings: Settings, args: argparse.Namespace, clock: StageClock,
                what: str, after: str = "") -> dict | None:
    run = loop.run_until_trained(args.project, timeout=args.timeout, after=after)
    clock.lap(f"events → debounce → train → gates → register ({what})")
    print(f"[local] run {run.get('job_name')} {run['status']}" + (f": {run['reason']}" if run.get("reason") else ""))
    if run["status"] != "Completed":
        return None
    prefix = model_folder(args.project, run["batch_id"])
    metrics = json.loads(loop.blobs.read(settings.models_container, f"{prefix}/metrics.json").data)
    ap = ", ".join(f"{k}={v:.3f}" for k, v in metrics.get("per_class_ap", {}).items())
    print(f"[local] model in {settings.models_container}/{prefix}/ (SavedModel, label map, pipeline.config)")
    print(f"[local] mAP@0.5:0.95={metrics['map']:.3f}  mAP@0.5={metrics['map_50']:.3f}  per class: {ap}")
    if produced := metrics.get("dataset_counts", {}).get("production"):
        print(f"[local] {produced} of the {metrics['dataset_counts']['images']} images came from production "
              "(exported for labelling, labelled, dropped back)")
    if "champion" in metrics:
        champion = metrics["champion"]
        print(f"[local] champion on the same {champion.get('validation_images')} validation images: "
              f"mAP={champion.get('map', float('nan')):.3f} mAP@0.5={champion.get('map_50', float('nan')):.3f} "
              f"→ challenger {metrics['map'] - champion.get('map', 0):+.3f} mAP")
    print(f"[local] training report: {loop.report_link(args.project, run['batch_id'])}")
    clock.summary.setdefault("runs", []).append({k: run.get(k) for k in (
        "batch_id", "status", "map", "map_50", "gates_passed", "model_version")} | {"metrics": metrics})
    if not run.get("gates_passed"):
        print("[local] release gates failed: " + "; ".join(run.get("gate_reasons", [])))
        return None
    print(f"[local] release gates passed; registered {run['model_name']} version {run['model_version']}")
    return run


def _release(loop: LocalLoop, args: argparse.Namespace, inbox: WebhookInbox, run: dict, clock: StageClock) -> bool:
    link = inbox.links()[-1]
    print(f"[local] approval requested (a card arrived at the chat webhook). Open the approval page:\n  {link}")
    if args.auto_approve:
        status, said = decide_through_page(link, "local-mode --auto-approve")
        print(f"[local] approved through the page's form ({status}): {said[:200]}")
    else:
        print("[local] waiting for the approval (Ctrl-C stops)")
    clock.lap(f"approval of version {run['model_version']}")
    released = loop.run_until_released(args.project, run["model_version"], timeout=args.timeout)
    clock.lap(f"blue/green release of version {run['model_version']}")
    if released["phase"] != "live":
        print(f"[local] release rolled back: {released.get('reason')}")
        return False
    clock.summary["scoring_uri"] = released["scoring_uri"]
    print(f"[local] version {run['model_version']} is live on slot {released['live_slot']} "
          f"(traffic {released['traffic']}) at {released['scoring_uri']}")
    return True


def _detect(loop: LocalLoop, args: argparse.Namespace, seed: int, count: int) -> list[dict]:
    """Send held-out demo images (never uploaded) to the endpoint with its key; print labelled results."""
    import random

    uri, key = loop.endpoints.describe(args.project)["scoring_uri"], loop.endpoints.key
    rng, results = random.Random(seed), []
    for index in range(count):
        image, shapes = demo_data.make_scene(rng, 128, 2)
        answer = _post(uri, demo_data.jpeg_bytes(image), {"Content-Type": "image/jpeg",
                                                          "Authorization": f"Bearer {key}"})
        truth = sorted(s.name for s in shapes)
        found = [d for d in answer["detections"] if d["score"] >= 0.5]
        print(f"[detect] held-out image {index + 1}: truth {truth}")
        for d in found:
            b = d["box"]
            print(f"[detect]   {d['label']:<9} {d['score']:.2f}  box ({b['xmin']:.0f},{b['ymin']:.0f})-"
                  f"({b['xmax']:.0f},{b['ymax']:.0f}) px")
        results.append({"truth": truth, "detections": answer["detections"], "model": answer["model"]})
    return results


def _serve_until_interrupted(loop: LocalLoop, settings: Settings, args: argparse.Namespace) -> None:
    uri = loop.endpoints.describe(args.project).get("scoring_uri")
    if uri:
        print(f"[local] serving until Ctrl-C. Score an image:\n  curl -X POST '{uri}' -H 'Authorization: Bearer "
              f"{loop.endpoints.key}' -H 'Content-Type: image/jpeg' --data-binary @image.jpg")
    else:
        print("[local] running until Ctrl-C; no model is live yet")
    print(f"[local] drop more images (a retrain follows): DataStorage='{settings.storage_connection_string}' "
          f"python -m local_mode upload FOLDER --project {args.project}")
    while True:
        loop.source.poll()
        loop.tick()
        loop.release_tick()
        time.sleep(2)


def _post(url: str, body: bytes, headers: dict[str, str]) -> dict:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{url} answered {exc.code}: {exc.read()[:300]!r}") from exc


class StageClock:
    """Wall time of each stage of the local loop, printed at the end (and kept in the summary)."""

    def __init__(self) -> None:
        self.started = self.last = time.monotonic()
        self.summary: dict = {"stages": []}

    def lap(self, stage: str) -> None:
        now = time.monotonic()
        self.summary["stages"].append({"stage": stage, "seconds": round(now - self.last, 1)})
        self.last = now

    def render(self) -> str:
        rows = [f"  {s['seconds']:7.1f} s  {s['stage']}" for s in self.summary["stages"]]
        return "[local] stage timings:\n" + "\n".join(rows) + f"\n  {time.monotonic() - self.started:7.1f} s  total"


def show_logs(args: argparse.Namespace) -> int:
    """A batch's timeline from the log file alone; with --json, stdout holds only the JSON document."""
    path = Path(args.log_file)
    if not path.is_file():
        _say(f"[logs] {path}: no log file (local mode writes it while `run` or `serve` runs)")
        return 2
    with path.open(encoding="utf-8", errors="replace") as handle:
        lines = list(log_timeline.parse(handle))
        known = log_timeline.batches(lines, args.project)
        batch = args.batch or (known[-1][1] if known else None)
        if batch is None:
            _say(f"[logs] {path}: no batch of {args.project or 'any project'} yet (no `flush claimed` line)")
            return 1
        story = log_timeline.timeline(lines, batch)
        if not story:
            _say(f"[logs] {path}: no line of batch {batch}")
            return 1
        if args.json:
            print(json.dumps({"batch_id": batch, "project": story[0].get("project"), "lines": story}, indent=1))
            return 0
        print(f"batch {batch}", flush=True)
        for line in story:
            print(log_timeline.render(line), flush=True)
        return _follow(handle, lines, batch, len(story)) if args.follow else 0


def _follow(handle: Any, lines: list[dict], batch: str, shown: int) -> int:
    """New lines of the batch as local mode writes them (the run's end, the approval, the release)."""
    try:
        while True:
            fresh = list(log_timeline.parse(handle.readlines()))
            if fresh:
                lines.extend(fresh)
                story = log_timeline.timeline(lines, batch)
                for line in story[shown:]:
                    print(log_timeline.render(line), flush=True)
                shown = len(story)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_mode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="start Azurite, upload a dataset (or a demo one) and report on it")
    run_p.add_argument("--dataset", help="folder of your labelling tool's export: Pascal VOC (VoTT, flat, pets-style), "
                       "COCO, YOLO, CVAT XML or Label Studio JSON, or several side by side")
    run_p.add_argument("--demo-format", choices=demo_data.DEMO_FORMATS, default="pascal-voc",
                       help="the format the demo dataset is written in (without --dataset)")
    run_p.add_argument("--project", default="demo", help="project folder name in the datasets container")
    run_p.add_argument("--demo-images", type=int, default=240)
    run_p.add_argument("--seed", type=int, default=0)
    run_p.add_argument("--keep-data", action="store_true", help="keep Azurite's data in --data-dir")
    run_p.add_argument("--data-dir", default=str(REPO_ROOT / ".local" / "azurite"),
                       help="Azurite's data folder with --keep-data (one local mode at a time)")
    run_p.add_argument("--json", action="store_true", help="print the report as JSON")
    run_p.add_argument("--validate-only", action="store_true", help="stop after the dataset report")
    run_p.add_argument("--steps", type=int, default=600, help="training steps of the local run")
    run_p.add_argument("--batch-size", type=int, default=8)
    run_p.add_argument("--quiet-seconds", type=float, default=5.0, help="debounce quiet period")
    run_p.add_argument("--timeout", type=float, default=1800, help="give up after this many seconds")
    run_p.add_argument("--auto-approve", action="store_true", help="approve the registered model at once, "
                       "deploy it to the local endpoint and send detection requests")
    run_p.add_argument("--second-batch", action="store_true", help="after the first release, upload a harder "
                       "demo batch: an incremental retrain compared with the champion, released blue/green")
    run_p.add_argument("--labelling-demo", action="store_true", help="after the first release, score production "
                       "images (a third of them harder), export the uncertain ones for labelling, label them from the "
                       "demo's truth, drop them back and retrain: champion vs challenger on the same validation images")
    run_p.add_argument("--production-images", type=int, default=60, help="production requests of --labelling-demo")
    run_p.add_argument("--serve", action="store_true", help="keep serving (and retraining on uploads) until Ctrl-C")
    run_p.add_argument("--check-images", type=int, default=3, help="held-out images sent to the endpoint")
    run_p.add_argument("--gate-min-map-50", type=float, default=0.5, help="the demo's release gate on mAP@0.5")
    run_p.add_argument("--port", type=int, default=0, help="port of the local functions host (0: any free)")
    run_p.add_argument("--summary", help="write stage timings, metrics and detections to this JSON file")
    run_p.add_argument("--log-file", default=str(LOG_FILE), help="JSON log lines of the service (INFO and up), "
                       "read by `python -m local_mode logs`")
    serve_p = sub.add_parser("serve", help="run the local twin of the service, empty, until Ctrl-C")
    serve_p.add_argument("--steps", type=int, default=600, help="training steps of each local run")
    serve_p.add_argument("--batch-size", type=int, default=8)
    serve_p.add_argument("--quiet-seconds", type=float, default=5.0, help="debounce quiet period")
    serve_p.add_argument("--gate-min-map-50", type=float, default=0.5, help="release gate on mAP@0.5")
    serve_p.add_argument("--port", type=int, default=0, help="port of the local functions host (0: any free)")
    serve_p.add_argument("--keep-data", action="store_true", help="keep Azurite's data in --data-dir")
    serve_p.add_argument("--data-dir", default=str(REPO_ROOT / ".local" / "azurite"),
                         help="Azurite's data folder with --keep-data (one local mode at a time)")
    serve_p.add_argument("--interval", type=float, default=2.0, help="seconds between two timer ticks")
    serve_p.add_argument("--json", action="store_true", help="print the addresses and keys as one JSON line")
    serve_p.add_argument("--log-file", default=str(LOG_FILE), help="JSON log lines of the service (INFO and up)")
    logs_p = sub.add_parser("logs", help="one batch's timeline from local mode's log file (the latest batch of "
                            "--project unless --batch names one)")
    logs_p.add_argument("--project", help="the project (default: the latest batch of any project)")
    logs_p.add_argument("--batch", help="a batch id (see `flush claimed` lines, or the status route)")
    logs_p.add_argument("--follow", action="store_true", help="keep printing the batch's new lines until Ctrl-C")
    logs_p.add_argument("--log-file", default=str(LOG_FILE), help="the log file `run` or `serve` wrote")
    logs_p.add_argument("--json", action="store_true", help="print the timeline as one JSON document")
    smoke_p = sub.add_parser("smoke", help="post-deployment smoke test: a tiny dataset through the whole service")
    smoke_p.add_argument("--azure", action="store_true", help="test the deployment of azd's current environment "
                         "(AZURE_* outputs in the environment; your Azure credential)")
    smoke_p.add_argument("--function-url", help="local twin: the functions' base URL (…/api)")
    smoke_p.add_argument("--function-key", help="local twin: the function key `serve` printed")
    smoke_p.add_argument("--endpoint-key", help="local twin: the endpoint key `serve` printed")
    smoke_p.add_argument("--project", help="project name (default: smoke-<UTC time>)")
    smoke_p.add_argument("--images", type=int, default=60, help="images in the generated dataset")
    smoke_p.add_argument("--approval-link", help="approve with this link instead of waiting for a person")
    smoke_p.add_argument("--cleanup", action="store_true", help="remove the uploads, the endpoint and the model "
                         "versions the test created, pass or fail")
    smoke_p.add_argument("--poll", type=float, default=10.0, help="seconds between two status checks")
    for name, default in (("events", 600), ("submission", 1800), ("training", 14400), ("approval", 3600),
                          ("release", 3600)):
        smoke_p.add_argument(f"--{name}-timeout", type=float, help=f"seconds to wait for {name} (default {default})")
    smoke_p.add_argument("--json", action="store_true", help="print only the JSON summary on stdout")
    lab = sub.add_parser("export-labels", help="export the live model's uncertain production images for labelling "
                         "(storage in DataStorage: local mode's Azurite, or Azure)")
    lab.add_argument("--project", required=True)
    lab.add_argument("--download", help="also copy the export into this folder (import it into CVAT from there)")
    lab.add_argument("--json", action="store_true", help="print only the export's summary as JSON")
    base = sub.add_parser("base-model", help="add a TF2 model-zoo archive as a base model, or list them (storage "
                          "in DataStorage)")
    base_sub = base.add_subparsers(dest="base_command", required=True)
    base_add = base_sub.add_parser("add", help="check and unpack an archive (a file or an https:// URL)")
    base_add.add_argument("source", help="path or https:// URL of the .tar.gz")
    base_add.add_argument("--name", help="folder under models/base-models/ (default: the archive's name)")
    base_add.add_argument("--json", action="store_true")
    base_list = base_sub.add_parser("list", help="the base models in the models container")
    base_list.add_argument("--json", action="store_true")
    up = sub.add_parser("upload", help="upload a folder to the storage in DataStorage (Azurite or Azure)")
    up.add_argument("folder")
    up.add_argument("--project", required=True)
    approval_link.add_parser(sub)
    val = sub.add_parser("validate", help="validate a project already in storage and publish its manifest")
    val.add_argument("--project", required=True)
    val.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    local = args.command in ("run", "serve")
    logs.configure(os.environ.get("LOG_LEVEL", "WARNING"), file=args.log_file if local else None, human=local)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and timeouts stop everything, as Ctrl-C does
    if args.command == "run" and args.json:
        sys.stdout = sys.stderr  # the progress lines; the report goes to DOCUMENT
    if args.command in ("run", "serve"):
        watch_children()  # trainers, inference servers and Azurite die with this process, even on SIGKILL
        try:
            return run(args) if args.command == "run" else serve(args)
        except DataFolderBusy as exc:
            _say(f"[local] {exc}")
            return 2
    if args.command == "smoke":
        return smoke(args)
    if args.command == "logs":
        return show_logs(args)
    settings = Settings.from_env()
    if args.command == "base-model":
        return base_model(settings, args)
    if args.command == "export-labels":
        return export_labels(settings, args)
    if args.command == "approval-link":
        return approval_link.run(settings, args)
    if args.command == "upload":
        count = upload_folder(AzureBlobStore.from_settings(settings), settings, Path(args.folder), args.project)
        print(f"uploaded {count} files to {settings.datasets_container}/{args.project}/")
        return 0
    return validate(settings, args.project, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
