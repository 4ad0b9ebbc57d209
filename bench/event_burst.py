"""Benchmark: a burst of BlobCreated events with duplicates, shuffled, delivered by concurrent processes.

Measures, side by side in one run against one Azurite:
  * the blob-event handler, one event per delivery (events/s, storage requests per event);
  * a plain Azurite Table insert per event of the same row, from the same number of processes (the floor);
  * the handler with batched deliveries (Event Grid arrays / CloudEvents arrays of up to 100);
then lets the debounce timer flush once and checks: exactly one submission, every blob in the manifest.

    bash bench/run.sh            # 10,000 blobs (5,000 images + 5,000 annotations), 10% duplicates, 4 processes
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from local_mode.demo_data import jpeg_bytes, make_scene, voc_xml

PROJECT = "burst"


def make_blobs(images: int, seed: int = 0) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {}
    for i in range(images):
        image, shapes = make_scene(rng, 48, 1)
        files[f"{PROJECT}/JPEGImages/img_{i:05d}.jpg"] = jpeg_bytes(image, quality=70)
        files[f"{PROJECT}/Annotations/img_{i:05d}.xml"] = voc_xml(f"img_{i:05d}.jpg", 48, 48, shapes)
    return files


def _counting_services(connection_string: str, env: dict[str, str], counter: list[int]):
    from azure.data.tables import TableServiceClient
    from azure.storage.blob import BlobServiceClient

    from function_app import bootstrap
    from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
    from shared.settings import Settings

    def hook(_request):
        counter[0] += 1

    settings = Settings.from_env(env | {"DataStorage": connection_string})
    tables = AzureTableStore(TableServiceClient.from_connection_string(connection_string, raw_request_hook=hook))
    blobs = AzureBlobStore(BlobServiceClient.from_connection_string(connection_string, raw_request_hook=hook))
    bootstrap.use(bootstrap.Services(settings, blobs, tables))
    return settings, tables


def _worker(kind: str, connection_string: str, env: dict[str, str], bodies: list[bytes], barrier, results) -> None:
    """One process: warm up, wait for the others, deliver, report (start, end, requests, outcome)."""
    import azure.functions as func

    counter = [0]
    settings, tables = _counting_services(connection_string, env, counter)
    if kind == "plain":
        client = tables.service.get_table_client(settings.ledger_table)
        rows = [_same_row(body) for body in bodies]  # the very rows the handler writes, built outside the clock
    else:
        from function_app import handlers

        handle = handlers()["blob_events"]
    tables.ensure_table(settings.ledger_table)
    counter[0] = 0
    recorded = duplicates = 0
    barrier.wait()
    start = time.perf_counter()
    for index, body in enumerate(bodies):
        if kind == "plain":
            client.create_entity(rows[index] | {"RowKey": uuid.uuid4().hex})  # an insert that never conflicts
            recorded += 1
            continue
        response = handle(func.HttpRequest("POST", "/api/events/blobs", body=body, headers={}, params={},
                                           route_params={}))
        if response.status_code != 200:
            raise RuntimeError(response.get_body())
        result = json.loads(response.get_body())
        recorded, duplicates = recorded + result["recorded"], duplicates + result["duplicates"]
    results.put({"start": start, "end": time.perf_counter(), "requests": counter[0], "recorded": recorded,
                 "duplicates": duplicates, "deliveries": len(bodies)})


def _same_row(body: bytes) -> dict:
    from shared.adapters.event_grid import parse_delivery
    from shared.events import blob_event
    from shared.ledger import ledger_row

    return ledger_row(blob_event(parse_delivery(body)[0]), PROJECT)


def deliver(kind: str, connection_string: str, env: dict[str, str], bodies: list[bytes], processes: int) -> dict:
    """Split the deliveries over `processes` OS processes started together; aggregate what they measured."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    chunks = [bodies[i::processes] for i in range(processes)]
    procs = [ctx.Process(target=_worker, args=(kind, connection_string, env, chunk, barrier, results))
             for chunk in chunks]
    for p in procs:
        p.start()
    reports = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"{kind} worker failed with exit code {p.exitcode}")
    elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return {"seconds": elapsed, "requests": sum(r["requests"] for r in reports),
            "recorded": sum(r["recorded"] for r in reports), "duplicates": sum(r["duplicates"] for r in reports),
            "deliveries": sum(r["deliveries"] for r in reports)}


def burst_events(source_events: list[dict], duplicate_share: float, seed: int) -> list[dict]:
    rng = random.Random(seed)
    events = source_events + rng.sample(source_events, int(len(source_events) * duplicate_share))
    rng.shuffle(events)
    return events


def batched(events: list[dict], size: int, cloud: bool) -> list[bytes]:
    from shared.adapters.event_grid import wire_cloud

    bodies = []
    for start in range(0, len(events), size):
        chunk = events[start:start + size]
        bodies.append(json.dumps([wire_cloud(e) for e in chunk] if cloud else chunk).encode())
    return bodies


def run(images: int, processes: int, duplicate_share: float) -> dict:
    from local_mode.azurite import Azurite
    from local_mode.event_source import BlobEventSource
    from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
    from shared.adapters.local_training import LocalTraining
    from shared.dataset.manifest import iter_entries, load_manifest
    from shared.pipeline.submit import SubmitTraining
    from shared.settings import Settings

    with Azurite() as azurite, tempfile.TemporaryDirectory() as work:
        conn = azurite.connection_string
        base_env = {"DATASETS_CONTAINER": "datasets", "QUIET_SECONDS": "60", "MIN_NEW_IMAGES": "1"}
        settings = Settings.from_env(base_env | {"DataStorage": conn})
        blobs = AzureBlobStore.from_settings(settings)
        blobs.ensure_container(settings.datasets_container)
        files = make_blobs(images)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda item: blobs.write(settings.datasets_container, *item), files.items()))
        upload_s = time.perf_counter() - t0
        source_events = [e for e, _, _ in BlobEventSource(blobs, "datasets", conn, lambda _: None).changes()]
        events = burst_events(source_events, duplicate_share, seed=1)
        figures = {"blobs": len(files), "events": len(events), "processes": processes, "upload_s": upload_s}

        singles = [json.dumps([e]).encode() for e in events]
        figures["plain_insert"] = deliver("plain", conn, base_env | {"LEDGER_TABLE": "plainfloor"}, singles,
                                          processes)
        figures["handler_single"] = deliver("handler", conn, base_env | {"LEDGER_TABLE": "ledgersingle"},
                                            singles, processes)
        figures["handler_batched_eventgrid"] = deliver(
            "handler", conn, base_env | {"LEDGER_TABLE": "ledgerbatch"}, batched(events, 100, cloud=False),
            processes)
        figures["handler_batched_cloudevents"] = deliver(
            "handler", conn, base_env | {"LEDGER_TABLE": "ledgercloud"}, batched(events, 100, cloud=True),
            processes)

        # The timer flushes once the burst is quiet: exactly one submission, every blob in the manifest.
        settings = settings.with_overrides(ledger_table="ledgersingle", training_backend="local",
                                           local_trainer_command=f"{sys.executable} -c pass")
        tables = AzureTableStore.from_settings(settings)
        backend = LocalTraining(blobs, settings, Path(work), on_events=lambda _: None)
        ticks = []
        t0 = time.perf_counter()
        for _ in range(4):  # four timer instances racing on the same tick
            ticks.append(SubmitTraining(blobs, tables, backend, settings).tick(
                PROJECT, datetime.now(UTC) + timedelta(seconds=61)))
        figures["flush_s"] = time.perf_counter() - t0
        state = SubmitTraining(blobs, tables, None, settings).records.project(PROJECT)
        manifest = load_manifest(blobs.read(settings.manifests_container, state.manifest).data)
        entries = list(iter_entries(manifest, lambda rel: blobs.read(settings.manifests_container,
                                                                     f"{PROJECT}/{rel}").data))
        in_manifest = {i["image"]["name"] for i in entries} | {
            i["annotation"]["name"] for i in entries if i["annotation"]}
        figures["submissions"] = len(backend.started())
        figures["manifest_blobs"] = len(in_manifest)
        figures["all_blobs_in_manifest"] = in_manifest == set(files)
        figures["ledger_rows"] = sum(1 for _ in tables.query("ledgersingle", PROJECT))
        figures["distinct_events"] = len(source_events)
        figures["tick_actions"] = [t.decision.action for t in ticks]
        for job in backend.started():
            backend.join(job, timeout=60)
        return figures


def report(f: dict) -> str:
    def rate(key: str) -> float:
        return f["events"] / f[key]["seconds"]

    floor = rate("plain_insert")
    lines = [
        f"{f['blobs']} blobs, {f['events']} events ({f['events'] - f['distinct_events']} duplicates), shuffled, "
        f"{f['processes']} processes, one Azurite (upload of the blobs took {f['upload_s']:.1f} s)",
        "",
        "| delivery | events/s | storage requests/event | vs plain insert |",
        "| --- | --- | --- | --- |",
    ]
    for key, label in (("plain_insert", "plain Table insert per event (floor)"),
                       ("handler_single", "blob_events handler, one event per delivery"),
                       ("handler_batched_eventgrid", "handler, Event Grid batches of 100"),
                       ("handler_batched_cloudevents", "handler, CloudEvents batches of 100")):
        lines.append(f"| {label} | {rate(key):,.0f} | {f[key]['requests'] / f['events']:.3f} | "
                     f"{rate(key) / floor:.2f}x |")
    lines += [
        "",
        f"ledger rows {f['ledger_rows']} for {f['distinct_events']} distinct events "
        f"(handler reported {f['handler_single']['duplicates']} duplicates)",
        f"timer: 4 racing ticks → {f['tick_actions']}; submissions: {f['submissions']}; "
        f"manifest holds {f['manifest_blobs']} blobs, all uploaded blobs: {f['all_blobs_in_manifest']} "
        f"(flush took {f['flush_s']:.1f} s)",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000, help="images (each with an annotation: 2 blobs)")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    figures = run(args.images, args.processes, args.duplicates)
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    ok = figures["submissions"] == 1 and figures["all_blobs_in_manifest"] and \
        figures["ledger_rows"] == figures["distinct_events"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
