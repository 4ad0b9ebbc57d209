"""Benchmark: base models and scale-out (issue: base models). Side by side in one run, on one Azurite:

  * fine-tuned from an imported model-zoo archive vs. the same pipeline from scratch: a 150-step run on three
    shapes is exported in the zoo layout and imported with `base-model add`'s use case, then both train the same
    steps on a two-class dataset; final training loss and mAP@0.5 on the same validation images;
  * training speed of one process vs. two workers under MultiWorkerMirroredStrategy (chief + worker on
    127.0.0.1, same global batch): steps/s of the train stage (2 cores here: reported, no target).

    python -m bench.scale_out [--base-steps 150] [--steps 100] [--speed-steps 60] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import report, say
from local_mode.demo_data import vott_export, zoo_archive

ROOT = Path(__file__).resolve().parent.parent
BASE_CONFIG = ROOT / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config"



class Trainer:
    def __init__(self, connection_string: str, work: Path) -> None:
        from shared.adapters.azure_storage import AzureBlobStore
        from shared.settings import Settings

        self.settings = Settings(storage_connection_string=connection_string)
        self.store = AzureBlobStore.from_settings(self.settings)
        self.store.ensure_container(self.settings.datasets_container)
        self.store.write(self.settings.models_container, "base-models/ssd/pipeline.config", BASE_CONFIG.read_bytes())
        self.env = os.environ | {"DataStorage": connection_string, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
        self.work, self.manifests = work, {}

    def dataset(self, project: str, files: dict[str, bytes]) -> str:
        from shared.dataset.service import DatasetBuilder

        for name, data in files.items():
            self.store.write(self.settings.datasets_container, f"{project}/{name}", data)
        builder = DatasetBuilder(self.store, self.settings, persist=False)
        return builder.publish(builder.build(project))

    def args(self, run: str, manifest: str, base: str, steps: int) -> list[str]:
        return [sys.executable, "-m", "trainer_image.train",
                "--manifest", f"blob://{self.settings.manifests_container}/{manifest}",
                "--base-model", f"blob://{self.settings.models_container}/{base}", "--model-dir",
                str(self.work / run), "--checkpoint-url", f"checkpoints/{run}", "--num-steps", str(steps),
                "--batch-size", "8"]

    def train(self, run: str, manifest: str, base: str, steps: int) -> dict:
        done = subprocess.run(self.args(run, manifest, base, steps), cwd=ROOT, env=self.env, capture_output=True,
                              text=True, check=False)
        if done.returncode:
            raise RuntimeError(done.stderr[-3000:])
        return self.figures(run, steps)

    def figures(self, run: str, steps: int) -> dict:
        package = self.work / run
        metrics = json.loads((package / "metrics.json").read_text())
        training = json.loads((package / "training.json").read_text())
        loss = json.loads((package / "report.json").read_text())["loss"]
        seconds = training["timings_seconds"]["train"]
        return {"map_50": round(metrics["map_50"], 4), "final_loss": loss[-1][1] if loss else None,
                "train_seconds": seconds, "steps_per_second": round(steps / seconds, 2),
                "warm_start": training["warm_start"]["from"]}

    def pair(self, run: str, manifest: str, steps: int) -> dict:
        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        nodes = []
        command = [*self.args(run, manifest, "base-models/ssd", steps), "--strategy", "multi_worker_mirrored"]
        for role in ("chief", "worker"):
            config = {"cluster": {"chief": [f"127.0.0.1:{ports[0]}"], "worker": [f"127.0.0.1:{ports[1]}"]},
                      "task": {"type": role, "index": 0}}
            nodes.append(subprocess.Popen(command, cwd=ROOT,
                                          env=self.env | {"TF_CONFIG": json.dumps(config)},
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        for node in nodes:
            _, err = node.communicate()
            if node.returncode:
                raise RuntimeError(err[-3000:])
        return self.figures(run, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-steps", type=int, default=150)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--speed-steps", type=int, default=60)
    parser.add_argument("--json")
    args = parser.parse_args()
    from local_mode.azurite import Azurite
    from shared.pipeline.base_models import BaseModels

    with Azurite() as azurite, tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(azurite.connection_string, Path(scratch))
        say(f"[scale-out] base run: three shapes, {args.base_steps} steps")
        three = trainer.dataset("three", vott_export(60, seed=3))
        trainer.train("base", three, "base-models/ssd", args.base_steps)
        added = BaseModels(trainer.store, trainer.settings).add(zoo_archive(Path(scratch) / "base", "shapes_base"),
                                                                "/archives/shapes_base.tar.gz")
        two = trainer.dataset("two", vott_export(64, seed=8, classes=("circle", "square")))
        fine = trainer.train("fine", two, added["base_model_setting"], args.steps)
        scratch_run = trainer.train("scratch", two, "base-models/ssd", args.steps)
        say(f"[scale-out] fine-tuned {fine}; from scratch {scratch_run}")
        one = trainer.train("one", two, "base-models/ssd", args.speed_steps)
        pair = trainer.pair("pair", two, args.speed_steps)
        say(f"[scale-out] one process {one}; two workers {pair}")
    figures = {"fine_tuned": fine, "from_scratch": scratch_run,
               "one_process": one, "two_workers": pair,
               "two_over_one_steps_per_second": round(pair["steps_per_second"] / one["steps_per_second"], 2)}
    report(figures, args.json)


if __name__ == "__main__":
    main()
