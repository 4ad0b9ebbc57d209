"""Benchmark: good scoring requests with and without two garbage senders beside them, in one run.

The garbage: a 35 KB PNG declaring 6000x6000 pixels (refused from its header), JSON nested 5,000 deep, and a
request declaring a 50 MB body (refused from Content-Length, unread). The good requests: 128x128 JPEGs from 2
clients through the local endpoint (key → gateway → azmlinfsrv → score.py). Quiet and noisy take turns (see
bench.serving.interleaved). Target (issue: reliability): good p99 with the senders ≤ 2x good p99 without them.
"""

from __future__ import annotations

import argparse
import io
import random
import socket
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from bench.load import hammer, served
from bench.serving import train_model
from local_mode.azurite import Azurite
from local_mode.demo_data import jpeg_bytes, make_scene
from shared.adapters.azure_storage import AzureBlobStore
from shared.adapters.local_endpoint import LocalEndpoints
from shared.ports import DeploymentSpec
from shared.settings import Settings


def garbage_requests(uri: str, key: str) -> list[bytes]:
    out = io.BytesIO()
    Image.new("L", (6000, 6000)).save(out, format="PNG", optimize=True)
    target = urlsplit(uri)
    head = f"POST {target.path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n"
    nested = b'{"image": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    return [
        (head + f"Content-Type: image/png\r\nContent-Length: {len(out.getvalue())}\r\n\r\n").encode() + out.getvalue(),
        (head + f"Content-Type: application/json\r\nContent-Length: {len(nested)}\r\n\r\n").encode() + nested,
        (head + f"Content-Type: image/jpeg\r\nContent-Length: {50 * 1024 * 1024}\r\n\r\n").encode(),
    ]


def send_garbage(uri: str, key: str, stop: threading.Event, sent: list[int]) -> None:
    target, requests = urlsplit(uri), garbage_requests(uri, key)
    while not stop.is_set():
        for raw in requests:
            with socket.create_connection((target.hostname, target.port), timeout=30) as s:
                s.sendall(raw)
                answer = s.recv(64)
            assert answer.split()[1] in (b"400", b"413"), answer
            sent.append(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(11)
    images = [jpeg_bytes(make_scene(rng, 128, 2)[0]) for _ in range(50)]
    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        settings = Settings(storage_connection_string=azurite.connection_string, endpoint_name_prefix="bench")
        store = AzureBlobStore.from_settings(settings)
        print(f"training a {args.steps}-step model with the trainer ...", flush=True)
        folder = train_model(store, settings, args.steps)
        endpoints = LocalEndpoints(store, settings, Path(scratch) / "endpoints")
        try:
            spec = DeploymentSpec("bench", "tfod-bench", "1", folder)
            while (state := endpoints.provision(spec, "blue")) == "provisioning":
                time.sleep(0.5)
            assert state == "ready", state
            endpoints.route("bench", {"blue": 100})
            uri, key = endpoints.describe("bench")["scoring_uri"], endpoints.key
            good = served(uri, key)
            hammer(good, images, 40, 2)  # warm-up
            quiet, noisy, garbage = [], [], []
            for turn in range(args.rounds):
                for mode in (("quiet", "noisy") if turn % 2 == 0 else ("noisy", "quiet")):
                    stop = threading.Event()
                    senders = [threading.Thread(target=send_garbage, args=(uri, key, stop, garbage))
                               for _ in range(2 if mode == "noisy" else 0)]
                    for s in senders:
                        s.start()
                    got, _ = hammer(good, images, args.requests // args.rounds, 2)
                    stop.set()
                    for s in senders:
                        s.join()
                    (quiet if mode == "quiet" else noisy).extend(got)
        finally:
            endpoints.close()
    p99 = {name: sorted(got)[int(len(got) * 0.99) - 1] * 1000 for name, got in (("quiet", quiet), ("noisy", noisy))}
    p50 = {name: sorted(got)[len(got) // 2] * 1000 for name, got in (("quiet", quiet), ("noisy", noisy))}
    print(f"{args.requests} good requests each way from 2 clients; {len(garbage)} garbage requests refused")
    print("| way | p50 ms | p99 ms |\n| --- | --- | --- |")
    for name in ("quiet", "noisy"):
        print(f"| {name} | {p50[name]:.1f} | {p99[name]:.1f} |")
    print(f"good p99 with 2 garbage senders / without = {p99['noisy'] / p99['quiet']:.2f}x (target ≤ 2x)")


if __name__ == "__main__":
    main()
