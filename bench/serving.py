"""Benchmark: the project's endpoint, with and without dynamic batching, against the plain inference server a
user would deploy by hand, and the same SavedModel called in-process.

Side by side in one run, on the same 128x128 JPEGs and a model exported by the trainer, at 1, 4 and 16 clients:
  * in-process: score.py's own decode + detect functions, called directly (no HTTP, no server, no batching);
  * plain server: azureml-inference-server-http with bench/minimal_score.py (decode, model, JSON; TensorFlow's
    default threading), called directly;
  * project, batching off: the API key → gateway → azureml-inference-server-http → score.py path with data
    collection to Azurite (as deployed), SCORE_MAX_BATCH=1;
  * project, batching on: the same with SCORE_MAX_BATCH / SCORE_BATCH_WAIT_MS (the deployed defaults unless given);
  * project, ONNX Runtime: the same endpoint with batching on, SERVING_RUNTIME=onnx (the trainer's model.onnx,
    whose parity it measured), and with batching off; the TensorFlow ways run with SERVING_RUNTIME=tensorflow.
The served ways' clients run in a process of their own (bench/load.py), never sharing a GIL with the gateway.
Each client count: the ways take turns (see `interleaved`); p50/p99 latency and requests/s of each. Each endpoint's
start (provisioning → ready, then its first answer) is timed too.
Targets (issue: serving): at 16 clients, batching on ≥ 1.5x the plain server's requests/s with p50 no worse; at 4
clients, p99 ≤ 1.2x and p50 ≤ 1.1x the plain server's; at 1 client, batching adds ≤ 1 ms to p50 (vs batching off).
(issue: ONNX) at 1 client, ONNX p50 ≤ 0.6x TensorFlow's (batching on); at 16 clients ONNX requests/s ≥ 1.3x
TensorFlow's batching on and ≥ 1.5x the plain server's; ONNX start ≤ 0.5x TensorFlow's, both as the local endpoint
starts them and as each serving image's environment would (.venv-serving-onnx: no TensorFlow installed).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.load import Way, from_a_client_process, in_this_process, served
from local_mode.azurite import REPO_ROOT, Azurite
from local_mode.demo_data import jpeg_bytes, make_scene, vott_export
from shared.adapters.azure_storage import AzureBlobStore
from shared.adapters.local_endpoint import LocalEndpoints
from shared.blob_folders import download_folder
from shared.dataset.service import DatasetBuilder
from shared.ports import DeploymentSpec
from shared.serving import worker_count
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
                    f"{settings.checkpoints_container}/bench/b1", "--num-steps", str(steps), "--batch-size", "4",
                    "--export", "onnx"],
                   cwd=REPO_ROOT, env=env, check=True, capture_output=True)
    return "bench/b1/model"


def interleaved(ways: dict[str, Way], images: list[bytes], requests: int, clients: int,
                rounds: int) -> dict[str, dict[str, float]]:
    """The ways take turns (order alternating) in `rounds` slices of the requests, so that the drift of a shared
    machine falls on both alike; p50/p99 over all requests of a way, requests/s over its own wall time."""
    latencies: dict[str, list[float]] = {name: [] for name in ways}
    walls = dict.fromkeys(ways, 0.0)
    for turn in range(rounds):
        for name in (list(ways) if turn % 2 == 0 else list(ways)[::-1]):
            got, wall = ways[name](images, requests // rounds, clients)
            latencies[name] += got
            walls[name] += wall
    return {name: _summary(sorted(got), walls[name]) for name, got in latencies.items()}


def _summary(ordered: list[float], wall: float) -> dict[str, float]:
    return {"p50_ms": statistics.median(ordered) * 1000, "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
            "rps": len(ordered) / wall}


def in_process(model_dir: Path) -> Callable[[bytes], None]:
    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    os.environ["SCORE_MAX_BATCH"] = "1"  # the bare model, one call per image
    sys.path.insert(0, str(REPO_ROOT / "trainer_image" / "serving"))
    import score

    score.init()

    def call(data: bytes) -> None:
        score.detect(score.decode_image(data), score.DEFAULT_THRESHOLD, score.DEFAULT_MAX_DETECTIONS)

    return call


def plain_server(model_dir: Path, threads: int, log: Path) -> tuple[subprocess.Popen, str]:
    """azmlinfsrv with the minimal score.py, on a free port; its scoring URI once it answers."""
    return inference_server(sys.executable, REPO_ROOT / "bench" / "minimal_score.py", model_dir, threads, log, {})


def inference_server(python: str, entry_script: Path, model_dir: Path, threads: int, log: Path,
                     env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """azmlinfsrv run by `python` with `entry_script`, on a free port; its scoring URI once it answers."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = os.environ | {"PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2",
                        "GUNICORN_CMD_ARGS": f"--threads {threads}", "AZUREML_MODEL_DIR": str(model_dir)} | env
    with log.open("wb") as out:
        process = subprocess.Popen([python, "-m", "local_mode.inference_server", "--entry_script",
                                    str(entry_script), "--model_dir", str(model_dir),
                                    "--port", str(port)], cwd=REPO_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    uri = f"http://127.0.0.1:{port}/score"
    for _ in range(480):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/")
            if connection.getresponse().status == 200:
                return process, uri
        except OSError:
            pass
        time.sleep(0.1)
    stop(process)
    raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    """The server and its gunicorn workers (its own session): killing only the master leaves the workers running."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def image_start(python: str, runtime: str, model_dir: Path, first: bytes, log: Path) -> float:
    """Seconds from starting score.py's server as a serving image would (its own environment) to its first answer."""
    started = time.perf_counter()
    process, uri = inference_server(python, REPO_ROOT / "trainer_image" / "serving" / "score.py", model_dir, 1, log,
                                    {"SERVING_RUNTIME": runtime, "SCORE_MAX_BATCH": "1"})
    try:
        served(uri, "")(first)
        return time.perf_counter() - started
    finally:
        stop(process)


def project_endpoint(store: AzureBlobStore, settings: Settings, folder: str, work: Path,
                     first: bytes) -> tuple[LocalEndpoints, str, float]:
    """The endpoint as released, and the seconds from provisioning to its first answer on `first`."""
    started = time.perf_counter()
    endpoints = LocalEndpoints(store, settings, work)
    spec = DeploymentSpec("bench", "tfod-bench", "1", folder)
    while (state := endpoints.provision(spec, "blue")) == "provisioning":
        time.sleep(0.1)
    assert state == "ready", state
    endpoints.route("bench", {"blue": 100})
    uri = endpoints.describe("bench")["scoring_uri"]
    served(uri, endpoints.key)(first)
    return endpoints, uri, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="per way and client count")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4, help="turns each way takes, alternating")
    parser.add_argument("--threads", type=int, help="gunicorn threads of every server (default: SERVING_THREADS)")
    parser.add_argument("--max-batch", type=int, help="SCORE_MAX_BATCH of the batching endpoint")
    parser.add_argument("--wait-ms", type=float, help="SCORE_BATCH_WAIT_MS of the batching endpoint")
    args = parser.parse_args()
    rng = random.Random(7)
    images = [jpeg_bytes(make_scene(rng, 128, 2)[0]) for _ in range(50)]
    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        base = Settings(storage_connection_string=azurite.connection_string, endpoint_name_prefix="bench",
                        serving_workers=int(os.environ.get("SERVING_WORKERS", "0")))
        threads = args.threads or base.serving_threads
        on = base.with_overrides(serving_threads=threads, serving_max_batch=args.max_batch or base.serving_max_batch,
                                 serving_batch_wait_ms=args.wait_ms if args.wait_ms is not None
                                 else base.serving_batch_wait_ms)
        off = base.with_overrides(serving_threads=threads, serving_max_batch=1, serving_runtime="tensorflow")
        on = on.with_overrides(serving_runtime="tensorflow")
        onnx = on.with_overrides(serving_runtime="onnx")
        onnx_off = off.with_overrides(serving_runtime="onnx")
        store = AzureBlobStore.from_settings(base)
        print(f"training a {args.steps}-step model with the trainer ...", file=sys.stderr, flush=True)
        folder = train_model(store, base, args.steps)
        local = download_folder(store, base.models_container, folder, Path(scratch) / "model")
        started: list = []
        try:
            plain, plain_uri = plain_server(local, threads, Path(scratch) / "plain.log")
            started.append(plain)
            off_endpoints, off_uri, _ = project_endpoint(store, off, folder, Path(scratch) / "off", images[0])
            started.append(off_endpoints)
            on_endpoints, on_uri, tf_start = project_endpoint(store, on, folder, Path(scratch) / "on", images[0])
            started.append(on_endpoints)
            onnx_endpoints, onnx_uri, onnx_start = project_endpoint(store, onnx, folder, Path(scratch) / "onnx",
                                                                    images[0])
            started.append(onnx_endpoints)
            onnx_off_endpoints, onnx_off_uri, _ = project_endpoint(store, onnx_off, folder, Path(scratch) / "onnx-off",
                                                                   images[0])
            started.append(onnx_off_endpoints)
            os.environ["SERVING_RUNTIME"] = "tensorflow"
            ways = {"in-process (score.py functions)": in_this_process(in_process(local)),
                    "plain server (minimal score.py)": from_a_client_process(plain_uri, ""),
                    "project, batching off": from_a_client_process(off_uri, off_endpoints.key),
                    "project, batching on": from_a_client_process(on_uri, on_endpoints.key),
                    "project, ONNX Runtime": from_a_client_process(onnx_uri, onnx_endpoints.key),
                    "project, ONNX Runtime, batching off": from_a_client_process(onnx_off_uri, onnx_off_endpoints.key)}
            for way in ways.values():
                way(images, 40, 4)  # warm-up
            table = {clients: interleaved(ways, images, args.requests, clients, args.rounds)
                     for clients in (int(c) for c in args.clients.split(","))}
            onnx_python = str(REPO_ROOT / ".venv-serving-onnx" / "bin" / "python")
            image_starts = [(image_start(sys.executable, "tensorflow", local, images[0], Path(scratch) / "tf.log"),
                             image_start(onnx_python, "onnx", local, images[0], Path(scratch) / "onnx.log"))
                            for _ in range(3)]
        finally:
            for thing in started:
                stop(thing) if isinstance(thing, subprocess.Popen) else thing.close()
    print(f"{args.requests} requests per way and client count; server workers: TensorFlow "
          f"{worker_count(base, 'tensorflow')}, ONNX Runtime {worker_count(base, 'onnx')} (SERVING_WORKERS), each with "
          f"{threads} threads; batching on: SCORE_MAX_BATCH={on.serving_max_batch}, "
          f"SCORE_BATCH_WAIT_MS={on.serving_batch_wait_ms:g}")
    print("| clients | way | p50 ms | p99 ms | requests/s |\n| --- | --- | --- | --- | --- |")
    for clients, rows in table.items():
        for name, row in rows.items():
            print(f"| {clients} | {name} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['rps']:.0f} |")
    for clients, rows in table.items():
        onnx_row, batched, plain_row = (rows["project, ONNX Runtime"], rows["project, batching on"],
                                        rows["plain server (minimal score.py)"])
        print(f"{clients} clients: ONNX / TensorFlow (batching on): p50 {onnx_row['p50_ms'] / batched['p50_ms']:.2f}x, "
              f"requests/s {onnx_row['rps'] / batched['rps']:.2f}x; ONNX / plain server requests/s "
              f"{onnx_row['rps'] / plain_row['rps']:.2f}x")
    print(f"endpoint start to first answer: TensorFlow {tf_start:.1f} s, ONNX Runtime {onnx_start:.1f} s "
          f"({onnx_start / tf_start:.2f}x)")
    tf_image, onnx_image = (statistics.median(times) for times in zip(*image_starts, strict=True))
    print(f"serving environment start to first answer (median of {len(image_starts)}, alternating): TensorFlow "
          f"image's environment {tf_image:.1f} s, ONNX-only environment (no TensorFlow installed) {onnx_image:.1f} s "
          f"({onnx_image / tf_image:.2f}x)")
    for clients, rows in table.items():
        plain_row, batched, unbatched = (rows["plain server (minimal score.py)"], rows["project, batching on"],
                                         rows["project, batching off"])
        print(f"{clients} clients: batching on / plain server: requests/s {batched['rps'] / plain_row['rps']:.2f}x, "
              f"p50 {batched['p50_ms'] / plain_row['p50_ms']:.2f}x, p99 {batched['p99_ms'] / plain_row['p99_ms']:.2f}x;"
              f" batching on - off p50: {batched['p50_ms'] - unbatched['p50_ms']:+.2f} ms; served p50 / in-process "
              f"p50 {batched['p50_ms'] / rows['in-process (score.py functions)']['p50_ms']:.2f}x")


if __name__ == "__main__":
    main()
