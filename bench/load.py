"""Scoring load for the serving benchmarks: client threads that keep their connections alive, run from a process
of their own for a served way, so that the clients never share a GIL with the server under test (the local
gateway runs in the benchmark's process, as it runs in local mode's; users' clients are never inside it).

`python -m bench.load` is that process: a job as JSON on stdin, latencies and wall time as JSON on stdout.
"""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

Way = Callable[[list[bytes], int, int], tuple[list[float], float]]
"""(images, requests, clients) → each request's latency (s) and the wall time of them all."""


def hammer(call: Callable[[bytes], None], images: list[bytes], requests: int,
           clients: int) -> tuple[list[float], float]:
    """`requests` calls spread over `clients` threads; each call's latency (s) and the wall time of them all."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock, counter = threading.Lock(), iter(range(requests))

    def client() -> None:
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            started = time.perf_counter()
            try:
                call(images[index % len(images)])
            except Exception as exc:  # one failed call stops its thread; the run says so
                with lock:
                    failures.append(exc)
                return
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} of {requests} calls failed, the first: {failures[0]!r}")
    return latencies, time.perf_counter() - started


def served(uri: str, key: str) -> Callable[[bytes], None]:
    """One POST of an image; each client thread keeps its connection alive, as HTTP clients in production do."""
    target, local = urlsplit(uri), threading.local()

    def call(data: bytes) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        local.connection.request("POST", target.path, body=data, headers={
            "Content-Type": "image/jpeg", "Authorization": f"Bearer {key}"})
        answer = local.connection.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"HTTP {answer.status} from {uri}")

    return call


def in_this_process(call: Callable[[bytes], None]) -> Way:
    """A way whose calls run on threads of the benchmark's own process (functions called in-process)."""
    return lambda images, requests, clients: hammer(call, images, requests, clients)


def from_a_client_process(uri: str, key: str) -> Way:
    """A served way whose clients run in a process of their own (`python -m bench.load`)."""

    def run(images: list[bytes], requests: int, clients: int) -> tuple[list[float], float]:
        job = {"uri": uri, "key": key, "requests": requests, "clients": clients,
               "images": [base64.b64encode(image).decode() for image in images]}
        done = subprocess.run([sys.executable, "-m", "bench.load"], input=json.dumps(job).encode(),
                              capture_output=True, cwd=Path(__file__).resolve().parents[1])
        if done.returncode:
            raise RuntimeError(f"the client process failed: {done.stderr.decode()[-2000:]}")
        result = json.loads(done.stdout)
        return result["latencies"], result["wall"]

    return run


def main() -> None:
    job = json.load(sys.stdin)
    images = [base64.b64decode(image) for image in job["images"]]
    latencies, wall = hammer(served(job["uri"], job["key"]), images, job["requests"], job["clients"])
    json.dump({"latencies": latencies, "wall": wall}, sys.stdout)


if __name__ == "__main__":
    main()
