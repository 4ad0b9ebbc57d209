"""A base model the way people bring one: a TF2 model-zoo archive. Here the archive is made from a real short run
on three classes, exported in the zoo's layout, imported with the base-model use case, then fine-tuned into a
dataset of two classes — checked in the weights (the feature extractor comes from the archive) and in what the
model does on held-out images (it detects there, where the same pipeline from scratch over the same steps does not
yet)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from local_mode.demo_data import vott_export, zoo_archive
from shared.blob_folders import download_folder
from shared.pipeline.base_models import BaseModels
from shared.training import progress_blob
from tests.integration.trainer_image.trainer_runs import fresh_storage, kernels, publish

REPO = Path(__file__).resolve().parents[3]
BASE_CONFIG = REPO / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config"
BASE_STEPS, STEPS = 150, 100

pytestmark = [pytest.mark.azurite, pytest.mark.scale_out]


@pytest.fixture(scope="module")
def runs(azurite_connection_string, tmp_path_factory):
    settings, store, suffix = fresh_storage(azurite_connection_string)
    store.write(settings.models_container, "base-models/ssd/pipeline.config", BASE_CONFIG.read_bytes())
    env = os.environ | {"DataStorage": azurite_connection_string, "PYTHONPATH": str(REPO)}
    work = tmp_path_factory.mktemp("fine-tune")

    def train(project: str, files: dict[str, bytes], base: str, steps: int) -> Path:
        manifest = publish(store, settings, project, files)
        out = subprocess.run([sys.executable, "-m", "trainer_image.train",
                              "--manifest", f"blob://{settings.manifests_container}/{manifest}",
                              "--base-model", f"blob://{settings.models_container}/{base}",
                              "--model-dir", str(work / project), "--checkpoint-url", f"ck{suffix}/{project}",
                              "--num-steps", str(steps), "--batch-size", "8"],
                             cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert out.returncode == 0, out.stderr[-4000:]
        return work / project

    base = train("three", vott_export(60, seed=3), "base-models/ssd", BASE_STEPS)
    added = BaseModels(store, settings).add(zoo_archive(base, "shapes_base"), "/archives/shapes_base.tar.gz")
    two = vott_export(48, seed=8, classes=("circle", "square"))
    fine = train("two-fine", two, added["base_model_setting"], STEPS)
    scratch = train("two-scratch", two, "base-models/ssd", STEPS)
    imported = download_folder(store, settings.models_container, added["base_model_setting"], work / "imported")
    progress = json.loads(store.read(f"ck{suffix}", progress_blob("two-fine")).data)
    return {"added": added, "base": imported, "fine": fine, "scratch": scratch, "progress": progress}


def test_the_archive_is_imported_with_what_it_is(runs):
    added = runs["added"]
    assert added["added"]
    assert (added["architecture"], added["input_size"], added["num_classes"]) == ("ssd", "128x128", 3)
    assert {"pipeline.config", "checkpoint/ckpt-0.index"} <= set(added["files"])


def test_fine_tuning_restores_the_feature_extractor_into_a_model_of_other_classes(runs):
    training = json.loads((runs["fine"] / "training.json").read_text())
    assert training["warm_start"]["from"] == "base_model" and training["warm_start"]["restores"] == "detection"
    assert "num_classes: 2" in (runs["fine"] / "pipeline.config").read_text()
    base, fine, scratch = (kernels(runs[run] / "checkpoint" / "ckpt-0", "_feature_extractor")
                           for run in ("base", "fine", "scratch"))
    assert len(base) > 10 and set(base) == set(fine) == set(scratch)

    def moved(other: dict[str, np.ndarray]) -> float:
        return float(np.median([np.linalg.norm(other[n] - base[n]) / np.linalg.norm(base[n]) for n in base]))

    # fresh weights sit ~1.4 (√2) norms away from any trained ones; restored ones move about half of that in 100
    # steps (0.76 against 1.49 in a CI run; below 0.5 of it at 40 and 60 steps)
    assert moved(scratch) > 1.0 and moved(fine) < 0.65 * moved(scratch), (moved(fine), moved(scratch))


def test_fine_tuned_from_the_archive_detects_better_than_from_scratch_on_held_out_images(runs):
    """Judged as a user judges a model, on the validation images neither trained on. Not by the training loss: one
    batch's loss at step 40 once came out 1.02 fine-tuned vs 0.99 from scratch, and the mean over the four logged
    points 1.51 vs 1.56, while the held-out mAP@0.5 of every run seen (40 steps) was 0.05-0.31 vs 0.003-0.018. At
    60 steps the fine-tune's fresh two-class head sometimes barely learned (0.018 and 0.049 against 0.016 from
    scratch, in two CI runs): 100 steps, which passed in both runs of it here."""
    fine, scratch = (json.loads((runs[run] / "metrics.json").read_text()) for run in ("fine", "scratch"))
    assert fine["validation_images"] == scratch["validation_images"] > 0  # the same split: the same dataset
    assert fine["map_50"] > 2 * scratch["map_50"] + 0.02, (fine["map_50"], scratch["map_50"])


def test_the_trainer_leaves_its_last_progress_for_the_project_page(runs):
    progress = runs["progress"]
    assert (progress["step"], progress["total_steps"], progress["eta_seconds"]) == (STEPS, STEPS, 0), progress
    assert progress["at"].endswith("+00:00")
