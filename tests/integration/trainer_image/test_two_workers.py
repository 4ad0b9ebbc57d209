"""Two real workers, as Azure ML's TensorFlow distribution launches them: one process each, TF_CONFIG naming a
chief and a worker on 127.0.0.1, MultiWorkerMirroredStrategy. Both train; only the chief checkpoints, writes
TensorBoard files and exports; a worker killed mid-run fails the run with the reason instead of hanging it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local_mode.demo_data import vott_export
from shared.ports import NotFound
from tests.integration.trainer_image.trainer_runs import fresh_storage, publish

REPO = Path(__file__).resolve().parents[3]
BASE_CONFIG = REPO / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config"

pytestmark = [pytest.mark.azurite, pytest.mark.scale_out]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def cluster(azurite_connection_string):
    settings, store, suffix = fresh_storage(azurite_connection_string)
    manifest = publish(store, settings, "two", vott_export(24, seed=5))
    store.write(settings.models_container, "base-models/ssd/pipeline.config", BASE_CONFIG.read_bytes())
    env = os.environ | {"DataStorage": azurite_connection_string, "PYTHONPATH": str(REPO)}

    def start(run: str, steps: int, *extra: str) -> dict[str, subprocess.Popen]:
        chief, worker = free_ports(2)
        nodes = {}
        for role in ("chief", "worker"):
            tf_config = {"cluster": {"chief": [f"127.0.0.1:{chief}"], "worker": [f"127.0.0.1:{worker}"]},
                         "task": {"type": role, "index": 0}}
            nodes[role] = subprocess.Popen(
                [sys.executable, "-m", "trainer_image.train", "--strategy", "multi_worker_mirrored",
                 "--manifest", f"blob://{settings.manifests_container}/{manifest}",
                 "--base-model", f"blob://{settings.models_container}/base-models/ssd",
                 "--model-dir", f"blob://{settings.models_container}/{run}/model",
                 "--checkpoint-url", f"ck{suffix}/{run}", "--num-steps", str(steps), "--batch-size", "8",
                 "--checkpoint-every", "10", "--sync-interval", "0.5", *extra],
                cwd=REPO, env=env | {"TF_CONFIG": json.dumps(tf_config)}, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        return nodes

    return {"store": store, "settings": settings, "start": start, "checkpoints": f"ck{suffix}"}


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_both_workers_train_and_only_the_chief_writes(cluster):
    nodes = cluster["start"]("pair", 20)
    outputs = {role: node.communicate(timeout=900)[0] for role, node in nodes.items()}
    assert nodes["chief"].returncode == 0, outputs["chief"][-3000:] + "\n--- worker ---\n" + outputs["worker"][-3000:]
    assert nodes["worker"].returncode == 0, outputs["worker"][-3000:]
    chief, worker = lines(outputs["chief"]), lines(outputs["worker"])
    assert [line["replicas"] for line in chief if line["message"] == "training"] == [2]
    assert any(line["message"] == "training finished" for line in chief)
    assert any(line["message"].startswith("worker finished training") for line in worker)
    assert not any(line["message"] == "training finished" for line in worker)
    store, settings = cluster["store"], cluster["settings"]
    written = [b.name for b in store.list(cluster["checkpoints"], "pair/")]
    assert any(n.endswith(".index") for n in written) and any("events.out.tfevents" in n for n in written)
    assert not any("temp_worker" in n for n in written), "a worker's files reached Blob Storage"
    assert store.read(settings.models_container, "pair/model/saved_model/saved_model.pb").data


def test_a_killed_worker_fails_the_run_with_the_reason_instead_of_hanging(cluster):
    nodes = cluster["start"]("killed", 5000, "--collective-timeout", "20")
    store, deadline = cluster["store"], time.monotonic() + 600
    while True:  # until the pair has checkpointed once: training is under way
        try:
            if 'model_checkpoint_path: "ckpt-1"' not in store.read(cluster["checkpoints"],
                                                                    "killed/checkpoint").data.decode():
                break
        except NotFound:
            pass
        assert nodes["chief"].poll() is None and time.monotonic() < deadline, nodes["chief"].stdout.read()[-3000:]
        time.sleep(0.5)
    os.killpg(nodes["worker"].pid, signal.SIGKILL)
    nodes["worker"].wait()
    started = time.monotonic()
    try:
        output, _ = nodes["chief"].communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(nodes["chief"].pid, signal.SIGKILL)
        pytest.fail("the chief kept waiting for the killed worker")
    assert nodes["chief"].returncode != 0
    assert "a training worker was lost or stopped answering" in output, output[-3000:]
    assert time.monotonic() - started < 240
    with pytest.raises(NotFound):  # an infrastructure failure: no failure.json, so the service retries the run
        store.read(cluster["settings"].models_container, "killed/model/failure.json")
