"""Benchmark: what mirroring a share of live traffic to a new slot (the release's shadow step) costs the live slot.

One local endpoint as a release leaves it during the shadow step: the live slot (blue) and the new one (green),
both serving the trainer's model with ONNX Runtime behind the keyed gateway, data collection to Azurite; the clients
run in a process of their own (bench/load.py). At 4 and 16 clients the ways take turns (order alternating) on the
same 128x128 JPEGs, in two layouts of the machine's cores:
  * shared: every process on every core, as the local twin runs — no mirroring, RELEASE_SHADOW_PERCENT's default
    (10%) and Azure ML's most (50%) mirrored to green, and 10% mirrored to a server that answers at once (what the
    gateway's copying costs, without the second model's work);
  * the live slot on a core of its own: blue's server on every core but the last, everything else (the gateway
    that copies, green, Azurite, the clients) on the last — as on Azure, where each deployment runs on instances
    of its own and the endpoint's front end copies the requests — no mirroring, 10% and 50% mirrored.
p50/p99 and requests/s of what the clients see (the live slot's answers), each way against its layout's none.
Target (issue: quality-guarded releases): mirroring costs the live slot's p50 and requests/s at most 5%.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.load import Way, from_a_client_process
from bench.serving import _summary, train_model
from local_mode.azurite import Azurite
from local_mode.demo_data import jpeg_bytes, make_scene
from local_mode.process_tree import descendants
from shared.adapters.azure_storage import AzureBlobStore
from shared.adapters.local_endpoint import LocalEndpoints
from shared.adapters.local_gateway import LocalHandler, LocalServer
from shared.ports import DeploymentSpec
from shared.settings import Settings

SHARED, OWN = "shared", "own core"
WAYS = {"no mirroring": (SHARED, "green", 0), "10% mirrored": (SHARED, "green", 10),
        "50% mirrored": (SHARED, "green", 50), "10% mirrored to a no-op server": (SHARED, "sink", 10),
        "live slot on its own core, no mirroring": (OWN, "green", 0),
        "live slot on its own core, 10% mirrored": (OWN, "green", 10),
        "live slot on its own core, 50% mirrored": (OWN, "green", 50)}
"""way → (core layout, slot the copies go to, percent mirrored). The no-op server isolates what the gateway's
copying itself costs; the own-core layout keeps the new slot's work off the live slot's core, as on Azure."""


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of `pid` and of the processes below it on `cpus` (threads they start later inherit it)."""
    for process in {pid} | descendants(pid):
        for task in Path(f"/proc/{process}/task").glob("*"):
            with contextlib.suppress(OSError):  # a thread or process that ended meanwhile
                os.sched_setaffinity(int(task.name), cpus)


def layouts(live_pid: int) -> dict[str, Callable[[], None]]:
    """How to put the machine's processes in each layout: all on every core, or the live slot's server on all
    cores but the last and everything else (gateway, new slot, Azurite, clients) on the last."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("the own-core layout needs at least two cores")

    def shared() -> None:
        pin(os.getpid(), set(cpus))

    def own() -> None:
        pin(os.getpid(), {cpus[-1]})
        pin(live_pid, set(cpus[:-1]))

    return {SHARED: shared, OWN: own}


class NoOpServer:
    """Answers every POST at once with an empty detection result, from a process of its own (as a mirrored
    deployment is never inside the front end's process)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.mirroring", "--serve-no-op"],
                                        stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1])
        self.port = int(self.process.stdout.readline())

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def serve_no_op() -> None:
    class Handler(LocalHandler):
        def do_POST(self) -> None:
            self.body()
            self.reply(200, b'{"detections": []}')

    server = LocalServer(0, Handler, "no-op")
    print(server.server_port, flush=True)
    threading.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2400, help="per way and client count")
    parser.add_argument("--clients", default="4,16")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=8,
                        help="turns each way takes, alternating (shorter turns moved by ±15%%)")
    parser.add_argument("--serve-no-op", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_no_op:
        return serve_no_op()
    rng = random.Random(7)
    images = [jpeg_bytes(make_scene(rng, 128, 2)[0]) for _ in range(50)]
    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        settings = Settings(storage_connection_string=azurite.connection_string, endpoint_name_prefix="mirror",
                            serving_runtime="onnx")
        store = AzureBlobStore.from_settings(settings)
        print(f"training a {args.steps}-step model with the trainer ...", file=sys.stderr, flush=True)
        folder = train_model(store, settings, args.steps)
        endpoints, sink = LocalEndpoints(store, settings, Path(scratch) / "endpoints"), NoOpServer()
        try:
            for slot, version in (("blue", "1"), ("green", "2")):
                spec = DeploymentSpec("bench", "tfod-bench", version, folder, "onnx")
                while (state := endpoints.provision(spec, slot)) == "provisioning":
                    time.sleep(0.1)
                assert state == "ready", state
            endpoints.gateway.routes[endpoints.describe("bench")["name"]]["sink"] = sink.port
            endpoints.route("bench", {"blue": 100})
            load = from_a_client_process(endpoints.describe("bench")["scoring_uri"], endpoints.key)
            load(images, 40, 4)  # warm-up
            layout = layouts(endpoints.started[0])
            table = {}
            for clients in (int(c) for c in args.clients.split(",")):
                table[clients] = measure(endpoints, load, layout, images, args.requests, clients, args.rounds)
            layout[SHARED]()
            mirrored = len(endpoints.answers("bench", "green", datetime(2000, 1, 1, tzinfo=UTC)))
        finally:
            endpoints.close()
            sink.close()
    print(f"{args.requests} requests per way and client count, live slot and mirrored slot both on ONNX Runtime; "
          f"{mirrored} mirrored requests answered by the new slot in all")
    print("| clients | way | p50 ms | p99 ms | requests/s |\n| --- | --- | --- | --- | --- |")
    for clients, rows in table.items():
        for name, row in rows.items():
            print(f"| {clients} | {name} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['rps']:.0f} |")
    for clients, rows in table.items():
        for name, (where, _, share) in WAYS.items():
            if share:  # ratios to the same run's no-mirroring way in the same layout
                plain = rows[next(n for n, (w, _, s) in WAYS.items() if w == where and not s)]
                print(f"{clients} clients, {name} / none: p50 {rows[name]['p50_ms'] / plain['p50_ms']:.3f}x, "
                      f"requests/s {rows[name]['rps'] / plain['rps']:.3f}x")


def measure(endpoints: LocalEndpoints, load: Way, layout: dict[str, Callable[[], None]], images: list[bytes],
            requests: int, clients: int, rounds: int) -> dict[str, dict[str, float]]:
    """The ways take turns (order alternating), the traffic split on blue throughout."""
    latencies: dict[str, list[float]] = {name: [] for name in WAYS}
    walls = dict.fromkeys(WAYS, 0.0)
    for turn in range(rounds):
        for name in (list(WAYS) if turn % 2 == 0 else list(WAYS)[::-1]):
            where, slot, share = WAYS[name]
            layout[where]()
            endpoints.route("bench", {"blue": 100}, {slot: share} if share else {})
            got, wall = load(images, requests // rounds, clients)
            latencies[name] += got
            walls[name] += wall
            time.sleep(0.5)  # the mirrored copies still running finish before the next way starts
    return {name: _summary(sorted(got), walls[name]) for name, got in latencies.items()}


if __name__ == "__main__":
    main()
