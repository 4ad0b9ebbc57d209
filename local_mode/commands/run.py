"""`python -m local_mode run`, the README's main command: Azurite, the functions' routes and a webhook inbox on
this machine; a dataset dropped as a user would; then events, debounce, training, gates, approval and a
blue/green release to the local endpoint, with the time of each stage."""

from __future__ import annotations

import argparse
import base64
import json
import random
import secrets
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from local_mode import demo_data, labelling_demo
from local_mode.approval_click import decide_through_page
from local_mode.azurite import Azurite
from local_mode.commands.common import (
    LOG_FILE,
    add_data_arguments,
    data_folder,
    local_settings,
    recover,
    upload_folder,
    validate,
)
from local_mode.functions_host import FunctionsHost, WebhookInbox
from local_mode.label_studio import USER as LABEL_STUDIO_USER
from local_mode.label_studio import LocalLabelStudio
from local_mode.live_traffic import LiveTraffic
from local_mode.loop import LocalLoop
from shared.adapters.azure_storage import AzureBlobStore
from shared.adapters.label_studio import LabelStudio
from shared.pipeline.labelling_tool import RETURN_FOLDER
from shared.settings import Settings
from shared.training import model_folder

RUNTIME_NAMES = {"onnx": "ONNX Runtime", "tensorflow": "TensorFlow"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    run_p = sub.add_parser("run", help="the main command: a dataset (yours or a demo one) through the whole loop "
                                       "on this machine, from upload to a served model")
    run_p.add_argument("--dataset", help="folder of your labelling tool's export: Pascal VOC (VoTT, flat, pets-style), "
                       "COCO, YOLO, CVAT XML or Label Studio JSON, or several side by side")
    run_p.add_argument("--demo-format", choices=demo_data.DEMO_FORMATS, default="pascal-voc",
                       help="the format the demo dataset is written in (without --dataset)")
    run_p.add_argument("--project", default="demo", help="project folder name in the datasets container")
    run_p.add_argument("--demo-images", type=int, default=240)
    run_p.add_argument("--golden-images", type=int, default=20,
                       help="the demo's golden set (golden/: never trained on, every run scored on it); 0: none")
    run_p.add_argument("--seed", type=int, default=0)
    add_data_arguments(run_p)
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
    run_p.add_argument("--labelling-tool", choices=["folder", "label-studio"], default="folder",
                       help="where --labelling-demo's labeller works: the export's files (folder), or a real Label "
                       "Studio started here, whose webhook brings each submit back")
    run_p.add_argument("--serve", action="store_true", help="keep serving (and retraining on uploads) until Ctrl-C")
    run_p.add_argument("--check-images", type=int, default=3, help="held-out images sent to the endpoint")
    run_p.add_argument("--gate-min-map-50", type=float, default=0.5, help="the demo's release gate on mAP@0.5")
    run_p.add_argument("--port", type=int, default=0, help="port of the local functions host (0: any free)")
    run_p.add_argument("--summary", help="write stage timings, metrics and detections to this JSON file")
    run_p.add_argument("--log-file", default=str(LOG_FILE), help="JSON log lines of the service (INFO and up), "
                       "read by `python -m local_mode logs`")
    run_p.set_defaults(handler=main, local=True)


def main(args: argparse.Namespace) -> int:
    args.document = sys.stdout  # with --json the report alone goes there; progress lines go to stderr
    if args.json:
        sys.stdout = sys.stderr
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Start Azurite, the functions' HTTP front and a webhook inbox, drop a dataset in the way a user would, then
    let the event loop train, gate, register, and (approved) release it to the local endpoint."""
    clock = StageClock()
    with Azurite(data_folder(args)) as azurite, tempfile.TemporaryDirectory() as scratch, ExitStack() as tools:
        host, inbox = FunctionsHost(args.port), WebhookInbox()
        settings = local_settings(Settings.from_env(), args, azurite, host, inbox.url)
        if args.labelling_tool == "label-studio":
            studio = tools.enter_context(LocalLabelStudio())
            settings = settings.with_overrides(label_studio_url=studio.url, label_studio_token=studio.token,
                                               label_studio_webhook_secret=secrets.token_urlsafe(24))
            print(f"[local] Label Studio on {studio.url} (user {LABEL_STUDIO_USER}, password {studio.password})")
        clock.lap("start Azurite and the local functions host")
        print(f"[local] project page (open it in a browser; it refreshes itself): "
              f"{host.url('projects/' + quote(args.project, safe=''))}")
        print(f"[local] Azurite on 127.0.0.1 (blob {azurite.ports['blob']}, table {azurite.ports['table']}); "
              f"functions on http://{host.host}/api (function key {host.key}; status as JSON: "
              f"{host.url('status/' + quote(args.project, safe=''))})")
        loop = LocalLoop(settings, azurite.blob_endpoint, Path(scratch) / "runs")
        try:
            recover(loop)
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


def _drop_first_batch(settings: Settings, args: argparse.Namespace, scratch: Path, clock: StageClock) -> int | None:
    folder = Path(args.dataset) if args.dataset else None
    if folder is None:
        folder = scratch / "demo"
        demo_data.write_files(folder, demo_data.demo_export(args.demo_images, args.demo_format, seed=args.seed))
        if args.golden_images:
            demo_data.write_files(folder / "golden", demo_data.golden_export(args.golden_images, args.demo_format,
                                                                             seed=args.seed + 101))
        layout = {"pascal-voc": "VoTT's Pascal VOC layout", "coco": "a COCO export (CVAT's layout)",
                  "yolo": "an Ultralytics YOLO export", "cvat": "a CVAT for images 1.1 export",
                  "label-studio": "a Label Studio JSON export"}[args.demo_format]
        print(f"[local] made a demo dataset: {args.demo_images} images in {layout}"
              + (f", and a golden set of {args.golden_images} in golden/ (never trained on, every model scored on "
                 "it)" if args.golden_images else ""))
    count = upload_folder(AzureBlobStore.from_settings(settings), settings, folder, args.project)
    print(f"[local] uploaded {count} files to {settings.datasets_container}/{args.project}/")
    code = validate(settings, args.project, as_json=args.json, out=args.document)
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
          f"labels ({reasons}), pre-annotated: {summary['archive']} ({labelling.policy(project).export_format}) "
          "and export.json")
    if settings.label_studio_url:
        labelled = _label_in_label_studio(loop, settings, project, summary, truth)
    else:
        labelled = _label_the_files(loop, settings, project, summary, truth)
    clock.summary["labelled"] = labelled
    if not labelled:
        return 1
    clock.lap("production traffic → export for labelling → labels back")
    _train_once(loop, settings, args, clock, "with the labelled production images", after=champion["batch_id"])
    runs = clock.summary.get("runs", [])
    return 0 if len(runs) >= 2 and runs[-1]["status"] == "Completed" else 1  # failed gates are an answer too


def _label_in_label_studio(loop: LocalLoop, settings: Settings, project: str, summary: dict,
                           truth: labelling_demo.Truth) -> int:
    pushed = summary.get("labelling_tool") or {}
    if not pushed.get("tool_project"):
        print(f"[labelling] the push to Label Studio failed: {pushed.get('error')}")
        return 0
    print(f"[labelling] {pushed['pushed']} tasks in Label Studio, the model's boxes drawn, least sure first: "
          f"{pushed['tool_project']}")
    tool = LabelStudio(settings.label_studio_url or "", settings.label_studio_token or "")
    labelled = labelling_demo.label_in_label_studio(tool, pushed["tool_project"], truth)
    returned = labelling_demo.wait_returned(loop.blobs, settings, project, labelled)
    print(f"[labelling] a person corrected the boxes and pressed Submit on {labelled} tasks; Label Studio's webhook "
          f"brought {returned} back into {settings.datasets_container}/{project}/{RETURN_FOLDER}/")
    return returned


def _label_the_files(loop: LocalLoop, settings: Settings, project: str, summary: dict,
                     truth: labelling_demo.Truth) -> int:
    files = labelling_demo.relabel(loop.blobs, settings, project, summary["export_id"], truth)
    target = f"{project}/labelled/{summary['export_id']}/"
    for name, data in files.items():
        loop.blobs.write(settings.datasets_container, target + name, data)
    labelled = len(files) // 2
    print(f"[labelling] a person corrected the pre-annotations: {labelled} images dropped back into "
          f"{settings.datasets_container}/{target}" + (f" ({summary['exported'] - labelled} exported images "
                                                        "were not production images of the demo: the release's "
                                                        "smoke test and the held-out checks; left out)"
                                                        if labelled < summary["exported"] else ""))
    return labelled


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
    onnx = metrics.get("exports", {}).get("onnx", {})
    files = "SavedModel, model.onnx" if "file" in onnx else "SavedModel"
    print(f"[local] model in {settings.models_container}/{prefix}/ ({files}, label map, pipeline.config)")
    print(f"[local] mAP@0.5:0.95={metrics['map']:.3f}  mAP@0.5={metrics['map_50']:.3f}  per class: {ap}")
    if parity := onnx.get("parity"):
        print(f"[local] ONNX export: mAP@0.5={parity['map_50']:.3f} on the same {parity['images']} images "
              f"(SavedModel {parity['saved_model']['map_50']:.3f}), largest box difference "
              f"{parity['max_box_difference']:.1e}, converted in {onnx['seconds']:g} s")
    elif "error" in onnx:
        print(f"[local] ONNX export not usable: {onnx['error']}")
    if produced := metrics.get("dataset_counts", {}).get("production"):
        print(f"[local] {produced} of the {metrics['dataset_counts']['images']} images came from production "
              "(exported for labelling, labelled, dropped back)")
    if "champion" in metrics:
        champion = metrics["champion"]
        print(f"[local] champion on the same {champion.get('validation_images')} validation images: "
              f"mAP={champion.get('map', float('nan')):.3f} mAP@0.5={champion.get('map_50', float('nan')):.3f} "
              f"→ challenger {metrics['map'] - champion.get('map', 0):+.3f} mAP")
    if flips := metrics.get("flips"):
        lost, gained = (", ".join(f"{k} {v}" for k, v in flips[kind].items()) or "none" for kind in ("lost", "gained"))
        print(f"[local] object by object: found by the champion and missed now: {lost}; missed by the champion and "
              f"found now: {gained}")
    if (golden := metrics.get("golden")) and "map" in golden:
        held = golden.get("champion") or {}
        print(f"[local] golden set ({golden['images']} images, never trained on): mAP={golden['map']:.3f} "
              f"mAP@0.5={golden['map_50']:.3f}" + (f" (champion {held['map']:.3f}: {golden['map'] - held['map']:+.3f} "
                                                  "mAP)" if isinstance(held.get("map"), float) else ""))
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
    live = loop.services.release().status(args.project) or {}
    traffic = None
    if live.get("live_model"):  # production goes on during the release: the shadow step mirrors it
        rng = random.Random(args.seed + 11)
        traffic = LiveTraffic(live["scoring_uri"], loop.endpoints.key, [
            demo_data.jpeg_bytes(demo_data.make_scene(rng, 128, 2)[0]) for _ in range(40)], pause=0.05)
        print("[local] live traffic: a client scores demo images through the endpoint during the release")
    try:
        released = loop.run_until_released(args.project, run["model_version"], timeout=args.timeout)
    finally:
        if traffic is not None:
            traffic.stop()
            failed = sum(status >= 500 for _, status, _ in traffic.seen)
            print(f"[local] live traffic during the release: {len(traffic.seen)} requests, {failed} failed")
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
    uri, key = loop.endpoints.describe(args.project)["scoring_uri"], loop.endpoints.key
    rng, results = random.Random(seed), []
    for index in range(count):
        image, shapes = demo_data.make_scene(rng, 128, 2)
        jpeg = demo_data.jpeg_bytes(image)
        answer = _post(uri, jpeg, {"Content-Type": "image/jpeg", "Authorization": f"Bearer {key}"})
        truth = sorted(s.name for s in shapes)
        found = [d for d in answer["detections"] if d["score"] >= 0.5]
        print(f"[detect] held-out image {index + 1}: truth {truth}")
        for d in found:
            b = d["box"]
            print(f"[detect]   {d['label']:<9} {d['score']:.2f}  box ({b['xmin']:.0f},{b['ymin']:.0f})-"
                  f"({b['xmax']:.0f},{b['ymax']:.0f}) px")
        results.append({"truth": truth, "detections": answer["detections"], "model": answer["model"],
                        "image_jpeg": base64.b64encode(jpeg).decode()})  # for --summary: what was sent
    if results:
        model = results[-1]["model"]
        print(f"[detect] answered by version {model.get('version')} on {RUNTIME_NAMES.get(model.get('runtime'), '?')}")
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
