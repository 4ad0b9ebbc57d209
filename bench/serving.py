"""Benchmark: detection served through the local endpoint vs. the same SavedModel called in-process.

Side by side in one run, on the same 128x128 JPEGs and a model exported by the trainer:
  * in-process: score.py's own decode + detect functions, called directly (no HTTP, no server);
  * served: HTTP POST with the API key to the local endpoint's gateway → azureml-inference-server-http → score.py,
    with data collection to Azurite on (as deployed).
Each way: 500 requests from 4 client threads (after a warm-up), in turns with the other way (see `interleaved`);
p50/p99 latency and requests/s. Both ways run score.py's TensorFlow settings (one thread per op).
Targets (issue: release path): served p50 ≤ 1.15x in-process p50; served p99 ≤ 1.5x served p50.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from local_mode.azurite import REPO_ROOT, Azurite
from local_mode.demo_data import jpeg_bytes, make_scene, vott_export
from shared.adapters.azure_storage import AzureBlobStore
from shared.adapters.local_endpoint import LocalEndpoints
from shared.blob_folders import download_folder
from shared.dataset.service import DatasetBuilder
from shared.ports import DeploymentSpec
from shared.settings import Settings

BASE = REPO_ROOT / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config"


def train_model(store: AzureBlobStore, settings: Settings, steps: int) -> str:
    """A short real training run, exported by the trainer into the models container; returns its folder."""
    store.ensure_container(settings.datasets_container)
    for name, data in vott_export(24, seed=3).items():
        store.write(settings.datasets_container, f"bench/{name}", data)
    builder = DatasetBuilder(store, settings)
    manifest = builder.publish(builder.build("bench"))
    store.write(settings.models_container, "base-models/ssd/pipeline.config", BASE.read_bytes())
    env = os.environ | {"DataStorage": settings.storage_connection_string, "PYTHONPATH": str(REPO_ROOT)}
    subprocess.run([sys.executable, "-m", "trainer_image.train", "--manifest",
                    f"blob://{settings.manifests_container}/{manifest}", "--base-model",
                    f"blob://{settings.models_container}/base-models/ssd", "--model-dir",
                    f"blob://{settings.models_container}/bench/b1/model", "--checkpoint-url",
                    f"{settings.checkpoints_container}/bench/b1", "--num-steps", str(steps), "--batch-size", "4"],
                   cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    return "bench/b1/model"


def hammer(call: Callable[[bytes], None], images: list[bytes], requests: int,
           clients: int) -> tuple[list[float], float]:
    """`requests` calls spread over `clients` threads; each call's latency (s) and the wall time of them all."""
    latencies: list[float] = []
    lock, counter = threading.Lock(), iter(range(requests))

    def client() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            call(images[index % len(images)])
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - started


def interleaved(ways: dict[str, Callable[[bytes], None]], images: list[bytes], requests: int, clients: int,
                rounds: int) -> dict[str, dict[str, float]]:
    """The ways take turns (order alternating) in `rounds` slices of the requests, so that the drift of a shared
    machine falls on both alike; p50/p99 over all requests of a way, requests/s over its own wall time."""
    latencies: dict[str, list[float]] = {name: [] for name in ways}
    walls = dict.fromkeys(ways, 0.0)
    for turn in range(rounds):
        for name in (list(ways) if turn % 2 == 0 else list(ways)[::-1]):
            got, wall = hammer(ways[name], images, requests // rounds, clients)
            latencies[name] += got
            walls[name] += wall
    return {name: _summary(sorted(got), walls[name]) for name, got in latencies.items()}


def _summary(ordered: list[float], wall: float) -> dict[str, float]:
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "rps": len(ordered) / wall}


def in_process(model_dir: Path) -> Callable[[bytes], None]:
    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    sys.path.insert(0, str(REPO_ROOT / "trainer_image" / "serving"))
    import score

    score.init()

    def call(data: bytes) -> None:
        score.detect(score.decode_image(data), score.DEFAULT_THRESHOLD, score.DEFAULT_MAX_DETECTIONS)

    return call


def served(uri: str, key: str) -> Callable[[bytes], None]:
    """Each client thread keeps its connection alive, as HTTP clients in production do."""
    target, local = urlsplit(uri), threading.local()

    def call(data: bytes) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        local.connection.request("POST", target.path, body=data, headers={
            "Content-Type": "image/jpeg", "Authorization": f"Bearer {key}"})
        answer = local.connection.getresponse()
        answer.read()
        assert answer.status == 200, answer.status

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10, help="turns each way takes, alternating")
    args = parser.parse_args()
    rng = random.Random(7)
    images = [jpeg_bytes(make_scene(rng, 128, 2)[0]) for _ in range(50)]
    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        settings = Settings(storage_connection_string=azurite.connection_string, endpoint_name_prefix="bench",
                            local_serving_workers=int(os.environ.get("LOCAL_SERVING_WORKERS", "1")))
        store = AzureBlobStore.from_settings(settings)
        print(f"training a {args.steps}-step model with the trainer ...", flush=True)
        folder = train_model(store, settings, args.steps)
        local = download_folder(store, settings.models_container, folder, Path(scratch) / "model")
        endpoints = LocalEndpoints(store, settings, Path(scratch) / "endpoints")
        try:
            spec = DeploymentSpec("bench", "tfod-bench", "1", folder)
            while (state := endpoints.provision(spec, "blue")) == "provisioning":
                time.sleep(0.5)
            assert state == "ready", state
            endpoints.route("bench", {"blue": 100})
            uri = endpoints.describe("bench")["scoring_uri"]
            direct, remote = in_process(local), served(uri, endpoints.key)
            for call in (direct, remote):
                hammer(call, images, 40, args.clients)  # warm-up
            rows = interleaved({"in-process (score.py functions)": direct,
                                "served (key → gateway → azmlinfsrv)": remote}, images, args.requests,
                               args.clients, args.rounds)
        finally:
            endpoints.close()
    base, srv = rows["in-process (score.py functions)"], rows["served (key → gateway → azmlinfsrv)"]
    print(f"{args.requests} requests from {args.clients} clients, {settings.local_serving_workers} server worker(s)")
    print("| way | p50 ms | p99 ms | requests/s |\n| --- | --- | --- | --- |")
    for name, row in rows.items():
        print(f"| {name} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['rps']:.0f} |")
    print(f"served p50 / in-process p50 = {srv['p50_ms'] / base['p50_ms']:.2f}x (target ≤ 1.15x); "
          f"served p99 / served p50 = {srv['p99_ms'] / srv['p50_ms']:.2f}x (target ≤ 1.5x)")


if __name__ == "__main__":
    main()
