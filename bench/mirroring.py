"""Benchmark: what mirroring a share of live traffic to a new slot (the release's shadow step) costs the live slot.

One local endpoint as a release leaves it during the shadow step: the live slot (blue) and the new one (green),
both serving the trainer's model with ONNX Runtime behind the keyed gateway, data collection to Azurite. At 4 and
16 clients the ways take turns (order alternating) on the same 128x128 JPEGs: no mirroring, RELEASE_SHADOW_PERCENT's
default (10%) and Azure ML's most (50%) mirrored to green, and 10% mirrored to a server that answers at once (what
the gateway's copying costs, without the second model competing for the same two cores). p50/p99 and requests/s
of what the clients see (the live slot's answers).
Target (issue: quality-guarded releases): mirroring costs the live slot's p50 and requests/s at most 5%.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.serving import _summary, hammer, served, train_model
from local_mode.azurite import Azurite
from local_mode.demo_data import jpeg_bytes, make_scene
from shared.adapters.azure_storage import AzureBlobStore
from shared.adapters.local_endpoint import LocalEndpoints
from shared.adapters.local_gateway import LocalHandler, LocalServer
from shared.ports import DeploymentSpec
from shared.settings import Settings

SHARES = {"no mirroring": ("green", 0), "10% mirrored": ("green", 10), "50% mirrored": ("green", 50),
          "10% mirrored to a no-op server": ("sink", 10)}
"""The last way isolates what the gateway's mirroring itself costs: the copies go to a server that answers at once
(on Azure the mirrored deployment runs on instances of its own, not on the live slot's cores as here)."""


class NoOpServer:
    """Answers every POST at once with an empty detection result."""

    def __init__(self) -> None:
        class Handler(LocalHandler):
            def do_POST(self) -> None:
                self.body()
                self.reply(200, b'{"detections": []}')

        self.server = LocalServer(0, Handler, "no-op")
        self.port = self.server.server_port

    def close(self) -> None:
        self.server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="per way and client count")
    parser.add_argument("--clients", default="4,16")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=4, help="turns each way takes, alternating")
    args = parser.parse_args()
    rng = random.Random(7)
    images = [jpeg_bytes(make_scene(rng, 128, 2)[0]) for _ in range(50)]
    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        settings = Settings(storage_connection_string=azurite.connection_string, endpoint_name_prefix="mirror",
                            serving_runtime="onnx")
        store = AzureBlobStore.from_settings(settings)
        print(f"training a {args.steps}-step model with the trainer ...", file=sys.stderr, flush=True)
        folder = train_model(store, settings, args.steps)
        endpoints = LocalEndpoints(store, settings, Path(scratch) / "endpoints")
        try:
            for slot, version in (("blue", "1"), ("green", "2")):
                spec = DeploymentSpec("bench", "tfod-bench", version, folder, "onnx")
                while (state := endpoints.provision(spec, slot)) == "provisioning":
                    time.sleep(0.1)
                assert state == "ready", state
            sink = NoOpServer()
            endpoints.gateway.routes[endpoints.describe("bench")["name"]]["sink"] = sink.port
            endpoints.route("bench", {"blue": 100})
            call = served(endpoints.describe("bench")["scoring_uri"], endpoints.key)
            hammer(call, images, 40, 4)  # warm-up
            table = {}
            for clients in (int(c) for c in args.clients.split(",")):
                table[clients] = measure(endpoints, call, images, args.requests, clients, args.rounds)
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
        plain = rows["no mirroring"]
        for name in list(SHARES)[1:]:  # ratios to the same run's no-mirroring way
            print(f"{clients} clients, {name} / none: p50 {rows[name]['p50_ms'] / plain['p50_ms']:.3f}x, "
                  f"requests/s {rows[name]['rps'] / plain['rps']:.3f}x")


def measure(endpoints: LocalEndpoints, call, images: list[bytes], requests: int, clients: int,
            rounds: int) -> dict[str, dict[str, float]]:
    """The shares take turns (order alternating), the traffic split on blue throughout."""
    latencies: dict[str, list[float]] = {name: [] for name in SHARES}
    walls = dict.fromkeys(SHARES, 0.0)
    for turn in range(rounds):
        for name in (list(SHARES) if turn % 2 == 0 else list(SHARES)[::-1]):
            slot, share = SHARES[name]
            endpoints.route("bench", {"blue": 100}, {slot: share} if share else {})
            got, wall = hammer(call, images, requests // rounds, clients)
            latencies[name] += got
            walls[name] += wall
            time.sleep(0.5)  # the mirrored copies still running finish before the next way starts
    return {name: _summary(sorted(got), walls[name]) for name, got in latencies.items()}


if __name__ == "__main__":
    main()
