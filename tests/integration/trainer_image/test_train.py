"""A real, short training on CPU against Azurite: killed once after its first checkpoint, then resumed; exported
to ONNX beside the SavedModel, with the export's accuracy measured against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from local_mode.demo_data import vott_export
from shared.adapters.azure_storage import AzureBlobStore
from shared.blob_folders import download_folder
from shared.dataset.service import DatasetBuilder
from shared.settings import Settings
from trainer_image.flips import SHOWN

REPO = Path(__file__).resolve().parents[3]
BASE_CONFIG = REPO / "trainer_image" / "base_models" / "ssd_mobilenet_v2_128" / "pipeline.config"
STEPS = 30


def _pointer_past_start(store, container) -> bool:
    """True once the checkpoint pointer in Blob Storage names a checkpoint after the initial one (step 0)."""
    from shared.ports import NotFound

    try:
        pointer = store.read(container, "shapes/b1/checkpoint").data.decode()
    except NotFound:
        return False
    return 'model_checkpoint_path: "ckpt-1"' not in pointer


def trainer(env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "trainer_image.train", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


GOLDEN = 6


@pytest.fixture(scope="module")
def run(azurite_connection_string, tmp_path_factory):
    suffix = uuid.uuid4().hex[:6]
    settings = Settings(storage_connection_string=azurite_connection_string, datasets_container=f"ds{suffix}",
                        manifests_container=f"mf{suffix}", quarantine_container=f"qt{suffix}")
    store = AzureBlobStore.from_settings(settings)
    store.ensure_container(settings.datasets_container)
    for name, data in vott_export(24, seed=21).items():
        store.write(settings.datasets_container, f"shapes/{name}", data)
    for name, data in vott_export(GOLDEN, seed=22, start=100).items():  # the project's golden set
        if not name.endswith(".pbtxt"):
            store.write(settings.datasets_container, f"shapes/golden/{name}", data)
    builder = DatasetBuilder(store, settings)
    build = builder.build("shapes")
    manifest_blob = builder.publish(build)
    models, checkpoints = f"models{suffix}", f"ckpt{suffix}"
    store.write(models, "base-models/ssd/pipeline.config", BASE_CONFIG.read_bytes())
    env = os.environ | {"DataStorage": azurite_connection_string, "PYTHONPATH": str(REPO)}
    args = ["--manifest", f"blob://{settings.manifests_container}/{manifest_blob}",
            "--base-model", f"blob://{models}/base-models/ssd", "--model-dir", f"blob://{models}/shapes/b1/model",
            "--checkpoint-url", f"{checkpoints}/shapes/b1", "--num-steps", str(STEPS), "--batch-size", "4",
            "--checkpoint-every", "10", "--sync-interval", "0.5", "--export", "onnx", "--export", "tflite"]

    first = trainer(env, *args)
    deadline = time.monotonic() + 400
    while not _pointer_past_start(store, checkpoints):
        assert first.poll() is None, f"trainer ended before its first checkpoint:\n{first.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, "no checkpoint reached Blob Storage while training"
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # the node is pre-empted
    first.wait()
    first.stdout.close()

    second = trainer(env, *args)
    output, _ = second.communicate(timeout=900)
    assert second.returncode == 0, output[-4000:]
    package = download_folder(store, models, "shapes/b1/model", tmp_path_factory.mktemp("package"))
    return {"store": store, "checkpoints": checkpoints, "package": package, "log": output,
            "manifest": build.manifest, "models": models, "args": args, "entries": list(build.entries())}


def test_checkpoints_and_tensorboard_files_are_in_blob_storage(run):
    names = [b.name for b in run["store"].list(run["checkpoints"], "shapes/b1/")]
    assert "shapes/b1/checkpoint" in names
    assert any(n.endswith(".index") for n in names) and any(".data-" in n for n in names)
    assert any("/train/events.out.tfevents" in n for n in names)


def test_a_killed_training_resumes_from_its_last_checkpoint(run):
    summary = json.loads((run["package"] / "training.json").read_text())
    assert summary["resumed_from_step"] is not None and summary["resumed_from_step"] >= 10
    from trainer_image.checkpoints import latest_step

    local = download_folder(run["store"], run["checkpoints"], "shapes/b1", run["package"].parent / "ckpt")
    assert latest_step(local) == STEPS


def test_metrics_json_has_coco_map_overall_and_per_class(run):
    metrics = json.loads((run["package"] / "metrics.json").read_text())
    assert 0 <= metrics["map"] <= 1 and 0 <= metrics["map_50"] <= 1
    assert set(metrics["per_class_ap"]) == {"circle", "square", "triangle"}
    assert metrics["dataset_version"] == run["manifest"]["dataset_version"]
    assert metrics["validation_images"] == run["manifest"]["counts"]["validation"]
    assert "DetectionBoxes_Precision/mAP" in metrics["coco"]
    counts = run["manifest"]["counts"]
    assert metrics["dataset_counts"] == {"images": 24 + GOLDEN, "train": counts["train"],
                                         "validation": counts["validation"], "golden": GOLDEN, "production": 0}
    objects = metrics["validation_objects"]  # what the per-class gate weighs each class's AP by
    assert set(objects) <= {"circle", "square", "triangle"}
    assert counts["validation"] <= sum(objects.values()) < counts["boxes"]  # every demo image has a shape


def test_the_golden_set_is_evaluated_and_never_made_into_training_records(run):
    metrics = json.loads((run["package"] / "metrics.json").read_text())
    golden = metrics["golden"]
    assert golden["images"] == GOLDEN and metrics["dataset_counts"]["golden"] == GOLDEN
    assert 0 <= golden["map"] <= 1 and set(golden["per_class_ap"]) <= {"circle", "square", "triangle"}
    assert sum(golden["objects"].values()) == sum(len(e["objects"]) for e in run["entries"] if e["split"] == "golden")
    assert "champion" not in golden  # the first model has none to be compared with
    index = json.loads(run["store"].read(run["checkpoints"], "shapes/tfrecord-cache/index.json").data)
    keys = {split: {k for sid, members in index.items() if sid.startswith(split + "-") for k in members}
            for split in ("train", "validation", "golden")}
    assert len(keys["golden"]) == GOLDEN and not keys["golden"] & (keys["train"] | keys["validation"])


def test_the_drift_baseline_profiles_every_validation_image(run):
    """What the drift watch compares production with: the model on its own validation images."""
    baseline = json.loads((run["package"] / "baseline.json").read_text())
    assert baseline["images"] == run["manifest"]["counts"]["validation"] and baseline["threshold"] == 0.5
    assert 0 <= baseline["no_detection_share"] <= 1 and 0 <= baseline["mean_top_score"] <= 1
    assert set(baseline["class_share"]) <= {"circle", "square", "triangle"}


def test_the_package_holds_the_model_label_map_and_final_config(run):
    package = run["package"]
    assert (package / "saved_model" / "saved_model.pb").exists()
    assert "name: 'triangle'" in (package / "label_map.pbtxt").read_text()
    config = (package / "pipeline.config").read_text()
    assert "num_classes: 3" in config and f"num_steps: {STEPS}" in config
    summary = json.loads((package / "training.json").read_text())
    assert summary["dataset_version"] == run["manifest"]["dataset_version"]
    assert summary["warm_start"]["from"] == "scratch"
    assert summary["tfrecords"]["images"] == 24 + GOLDEN  # train, validation and golden records


def test_the_saved_model_detects_through_serving_default(run):
    import tensorflow as tf

    model = tf.saved_model.load(str(run["package"] / "saved_model"))
    image = np.random.default_rng(0).integers(0, 255, (1, 128, 128, 3), dtype=np.uint8)
    out = model.signatures["serving_default"](input_tensor=tf.constant(image))
    assert {"detection_boxes", "detection_classes", "detection_scores", "num_detections"} <= set(out)
    assert out["detection_boxes"].shape[-1] == 4
    classes = out["detection_classes"].numpy()
    assert classes.min() >= 1 and classes.max() <= 3


def test_progress_is_logged_as_json_lines(run):
    lines = [json.loads(line) for line in run["log"].splitlines() if line.startswith("{")]
    finished = [line for line in lines if line["message"] == "training finished"]
    assert finished and finished[0]["project"] == "shapes"
    assert any(line["message"] == "resuming from checkpoint" for line in lines)


@pytest.fixture(scope="module")
def retrain(run, azurite_connection_string, tmp_path_factory):
    """A second run on the same dataset with the first model as champion, warm-started from it."""
    store, models = run["store"], run["models"]
    env = os.environ | {"DataStorage": azurite_connection_string, "PYTHONPATH": str(REPO)}
    args = [a.replace("shapes/b1", "shapes/b2") for a in run["args"]]
    args[args.index("--num-steps") + 1] = "10"
    while "--export" in args:  # what is checked here is the warm start and the champion, not the exports again
        del args[args.index("--export"):args.index("--export") + 2]
    process = trainer(env, *args, "--champion", f"blob://{models}/shapes/b1/model", "--warm-start")
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-4000:]
    return {name: json.loads(store.read(models, f"shapes/b2/model/{name}").data)
            for name in ("metrics.json", "training.json")} | {
        "package": download_folder(store, models, "shapes/b2/model", tmp_path_factory.mktemp("retrained"))}


def test_a_retrain_warm_starts_from_the_champion_and_evaluates_it_on_the_same_images(retrain, run):
    warm = retrain["training.json"]["warm_start"]
    assert warm["from"] == "champion" and "label map unchanged" in warm["reason"]
    champion = retrain["metrics.json"]["champion"]
    assert "error" not in champion, champion
    assert 0 <= champion["map"] <= 1 and set(champion["per_class_ap"]) == {"circle", "square", "triangle"}
    first = json.loads((run["package"] / "metrics.json").read_text())
    assert champion["map"] == pytest.approx(first["map"], abs=1e-6)  # same model, same images: same score
    assert champion["dataset_version"] == retrain["metrics.json"]["dataset_version"]
    assert champion["validation_images"] == retrain["metrics.json"]["validation_images"]
    golden = retrain["metrics.json"]["golden"]  # the golden set: the champion scored on it as in its own run
    assert golden["champion"]["map"] == pytest.approx(first["golden"]["map"], abs=1e-6)
    flips = retrain["metrics.json"]["flips"]  # objects one of the two found and the other missed, per class
    assert flips["images"] == champion["validation_images"]
    changed = sum(flips["lost"].values()) + sum(flips["gained"].values())
    assert (retrain["package"] / "flips.jpg").exists() == (changed > 0)
    assert len(flips["shown"]) == min(SHOWN, sum(flips["lost"].values())) + min(SHOWN, sum(flips["gained"].values()))


def test_a_warm_start_from_the_champion_restores_its_box_predictor_too(retrain, run):
    """Seen in the weights, not the config: the retrained box predictor is the champion's, moved a little (the
    OD API's `detection` restore keeps only the feature extractor and starts the heads afresh; the same classes
    warrant `full`, at a tenth of the learning rate so the model starts where the champion ended)."""
    import tensorflow as tf

    assert retrain["training.json"]["warm_start"]["restores"] == "full"
    champion = tf.train.load_checkpoint(str(run["package"] / "checkpoint" / "ckpt-0"))
    retrained = tf.train.load_checkpoint(str(retrain["package"] / "checkpoint" / "ckpt-0"))
    heads = [n for n in champion.get_variable_to_shape_map() if "_box_predictor" in n and "OPTIMIZER" not in n
             and n.endswith("kernel/.ATTRIBUTES/VARIABLE_VALUE")]
    assert len(heads) >= 2, sorted(champion.get_variable_to_shape_map())[:20]
    for name in heads:
        before, after = champion.get_tensor(name), retrained.get_tensor(name)
        assert np.linalg.norm(after - before) < 0.3 * np.linalg.norm(before), name


def test_a_base_model_without_a_config_fails_with_one_clear_line(run, azurite_connection_string):
    env = os.environ | {"DataStorage": azurite_connection_string, "PYTHONPATH": str(REPO)}
    args = [a.replace("shapes/b1", "shapes/b3") for a in run["args"]]
    args[args.index("--base-model") + 1] = f"blob://{run['models']}/base-models/missing"
    process = trainer(env, *args)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 1
    assert "trainer failed: BaseModelError:" in output and "has no pipeline.config" in output
    model_dir = args[args.index("--model-dir") + 1].removeprefix("blob://")
    container, _, folder = model_dir.partition("/")
    said = json.loads(AzureBlobStore.from_settings(Settings(storage_connection_string=azurite_connection_string))
                      .read(container, f"{folder}/failure.json").data)
    assert said["error"].startswith("trainer failed: BaseModelError:")  # the run is not retried
    last = [json.loads(line) for line in said["last_lines"]]  # what it was doing, for the run's end line
    assert last[-1]["message"] == "training failed" and "BaseModelError" in last[-1]["error"]


def test_the_report_grid_keeps_true_boxes_visible_on_any_colour_and_hides_low_scores(run, tmp_path):
    """A green object with a green true box: the box's dark edge still shows; nothing under the threshold drawn."""
    import io

    import tensorflow as tf
    from PIL import Image

    from trainer_image.evaluation import validation_pass
    from trainer_image.report_assets import TILE, prediction_grid

    image = Image.new("RGB", (128, 128), (0, 200, 0))
    encoded = io.BytesIO()
    image.save(encoded, "JPEG")
    feature = {
        "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded.getvalue()])),
        "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"green.jpg"])),
        "image/object/class/text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"square"])),
        **{f"image/object/bbox/{k}": tf.train.Feature(float_list=tf.train.FloatList(value=[v]))
           for k, v in (("xmin", 0.25), ("ymin", 0.25), ("xmax", 0.75), ("ymax", 0.75))}}
    record = tmp_path / "green.tfrecord"
    with tf.io.TFRecordWriter(str(record)) as writer:
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    seen = validation_pass(run["package"] / "saved_model", [str(record)], keep_images=1)
    grid, rows = prediction_grid(seen, {1: "circle", 2: "square"}, threshold=0.99)
    tile = np.asarray(Image.open(io.BytesIO(grid)).convert("RGB"))[:TILE, :TILE].astype(int)
    across = tile[TILE // 4 - 3: TILE // 4 + 4, TILE // 2].sum(axis=-1)  # a column through the box's top edge
    assert (across < 150).sum() >= 2, f"no dark edge: the green box vanishes on the green object ({across})"
    assert all(p["score"] >= 0.99 for row in rows for p in row["predicted"])


@pytest.fixture(scope="module", params=["tensorflow", "onnx"])
def scoring(run, request):
    """score.py in this process on the trained package, with its batcher (8 requests, 50 ms bound), on each
    runtime."""
    os.environ["AZUREML_MODEL_DIR"] = str(run["package"])
    os.environ["SERVING_RUNTIME"] = request.param
    from trainer_image.serving import score

    saved = score.MAX_BATCH, score.BATCH_WAIT_MS
    score.MAX_BATCH, score.BATCH_WAIT_MS = 8, 50
    score.init()
    yield score
    score.MAX_BATCH, score.BATCH_WAIT_MS = saved
    score._batcher = None
    os.environ.pop("SERVING_RUNTIME")


def together(score, images, options) -> list[dict]:
    """Requests scored at once by as many threads, as the inference server's threads would."""
    import threading

    answers: list = [None] * len(images)
    arrived = threading.Barrier(len(images))

    def one(i: int) -> None:
        score._batcher.entering()
        try:
            arrived.wait(10)
            answers[i] = score.detect(images[i], **options[i])
        finally:
            score._batcher.leaving()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


def alone(score, monkeypatch, images, options) -> list[dict]:
    with monkeypatch.context() as patch:
        patch.setattr(score, "_batcher", None)
        return [score.detect(image, **option) for image, option in zip(images, options, strict=True)]


def scenes(sizes: list[tuple[int, int]]) -> list:
    import random

    from PIL import Image

    from local_mode.demo_data import make_scene

    rng = random.Random(11)
    return [Image.fromarray(np.asarray(make_scene(rng, 128, 2)[0])).resize(size) for size in sizes]


def same_detections(a: dict, b: dict, tolerance: float) -> None:
    assert a["image"] == b["image"]
    for kind in ("detections", "candidates"):
        strong = [(x, y) for x, y in zip(a[kind], b[kind], strict=False) if min(x["score"], y["score"]) > 0.2]
        for x, y in strong:
            assert x["label"] == y["label"] and abs(x["score"] - y["score"]) <= tolerance, (x, y)
            for edge in ("xmin", "ymin", "xmax", "ymax"):
                assert abs(x["box_normalized"][edge] - y["box_normalized"][edge]) <= tolerance, (x, y)
                size = a["image"]["width"] if edge[0] == "x" else a["image"]["height"]
                assert abs(x["box"][edge] - x["box_normalized"][edge] * size) <= 0.1, x  # pixels of the original


def test_batched_answers_are_the_detections_of_single_calls(scoring, monkeypatch):
    images = scenes([(128, 128)] * 6)
    options = [{"threshold": 0.1, "max_detections": 20}] * 6
    scoring._batcher.batches.clear()
    batched = together(scoring, images, options)
    assert max(scoring._batcher.batches) > 1, scoring._batcher.batches  # they did share model calls
    for got, expected in zip(batched, alone(scoring, monkeypatch, images, options), strict=True):
        same_detections(got, expected, 1e-3)
        assert len(got["detections"]) == len(expected["detections"])


def test_images_of_other_sizes_share_a_batch_brought_to_the_model_input(scoring, monkeypatch):
    assert scoring._input_size == (128, 128)  # from the exported pipeline.config's fixed_shape_resizer
    images = scenes([(128, 128), (96, 160), (200, 120), (64, 64)])
    options = [{"threshold": 0.1, "max_detections": 20}] * 4
    scoring._batcher.batches.clear()
    batched = together(scoring, images, options)
    assert max(scoring._batcher.batches) > 1
    for got, expected in zip(batched, alone(scoring, monkeypatch, images, options), strict=True):
        same_detections(got, expected, 0.005)  # the resize rounds to whole pixel values outside the graph


def test_options_apply_per_request_inside_one_batch(scoring):
    images = scenes([(128, 128)] * 3)
    options = [{"threshold": 0.0, "max_detections": 3}, {"threshold": 0.9999, "max_detections": 20},
               {"threshold": 0.0, "max_detections": 1}]
    first, strict, one = together(scoring, images, options)
    assert len(first["detections"]) == 3 and len(one["detections"]) == 1
    assert all(d["score"] >= 0.9999 for d in strict["detections"])
    assert [a["threshold"] for a in (first, strict, one)] == [0.0, 0.9999, 0.0]


def test_the_onnx_export_detects_as_the_saved_model_does(run):
    """The package's model.onnx, run by ONNX Runtime on an image, answers what the SavedModel answers; the
    trainer's own parity figures on the validation images say the same."""
    import onnxruntime
    import tensorflow as tf

    onnx = json.loads((run["package"] / "metrics.json").read_text())["exports"]["onnx"]
    assert onnx["file"] == "model.onnx" and onnx["bytes"] == (run["package"] / "model.onnx").stat().st_size > 100_000
    assert onnx["opset"] == 17 and onnx["seconds"] > 0
    assert onnx["batched"] == "yes"  # no per-image loop left: one NonMaxSuppression and one Resize for a batch
    assert not [n for n in _onnx_nodes(run["package"] / "model.onnx") if n.op_type == "Loop"]
    parity = onnx["parity"]
    assert parity["images"] == run["manifest"]["counts"]["validation"]
    assert set(parity["per_class_ap"]) == set(parity["saved_model"]["per_class_ap"]) == {"circle", "square", "triangle"}
    assert abs(parity["map_50_drop"]) <= 0.005 and parity["max_box_difference"] < 1e-3, parity

    session = onnxruntime.InferenceSession(str(run["package"] / "model.onnx"), providers=["CPUExecutionProvider"])
    image = np.random.default_rng(1).integers(0, 255, (2, 150, 200, 3), dtype=np.uint8)  # any size, any batch
    boxes, scores = session.run(["detection_boxes", "detection_scores"], {"input_tensor": image})
    expected = tf.saved_model.load(str(run["package"] / "saved_model")).signatures["serving_default"](
        input_tensor=tf.constant(image))
    np.testing.assert_allclose(scores, expected["detection_scores"].numpy(), atol=1e-4)
    np.testing.assert_allclose(boxes, expected["detection_boxes"].numpy(), atol=1e-4)


def _onnx_nodes(path: Path) -> list:
    import onnx

    return list(onnx.load(str(path)).graph.node)


def test_the_batched_onnx_graph_answers_exactly_as_tf2onnx_converted_it(run, tmp_path):
    """tf2onnx's own graph (per-image loops) and the trainer's rewrite of it give the same six outputs on batches
    of any size; a rewrite that would answer otherwise (another per-class limit) is refused and the file kept."""
    import onnxruntime

    from trainer_image.onnx_postprocess import Nms, nms_settings, rewrite_file

    converted = tmp_path / "converted.onnx"
    subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(run["package"] / "saved_model"),
                    "--output", str(converted), "--opset", "17"], check=True, capture_output=True, timeout=600)
    assert [n.name for n in _onnx_nodes(converted) if n.op_type == "Loop"]
    rewritten = tmp_path / "rewritten.onnx"
    rewritten.write_bytes(converted.read_bytes())
    nms, _ = nms_settings((run["package"] / "pipeline.config").read_text())
    assert rewrite_file(rewritten, nms) == ""
    assert not [n for n in _onnx_nodes(rewritten) if n.op_type == "Loop"]

    sessions = [onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                for path in (converted, rewritten)]
    names = [o.name for o in sessions[0].get_outputs()]
    for size, count in (((128, 128), 5), ((160, 96), 3), ((200, 300), 1)):  # (width, height)
        batch = np.stack([np.asarray(image) for image in scenes([size] * count)])
        before, after = (s.run(names, {"input_tensor": batch}) for s in sessions)
        for name, a, b in zip(names, before, after, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} at {size} x {count}")

    other = tmp_path / "other.onnx"
    other.write_bytes(converted.read_bytes())
    why = rewrite_file(other, Nms(nms.score_threshold, nms.iou_threshold, 2, nms.max_total))
    assert "differs from the converted one" in why and other.read_bytes() == converted.read_bytes()


def test_the_tflite_exports_are_measured_as_the_saved_model_is(run):
    """A float16 and an int8 model for devices, each run by the TFLite interpreter on the validation images and
    scored as the SavedModel is; the float16 one finds what the SavedModel finds, the int8 one is the smallest."""
    import tensorflow as tf

    exports = json.loads((run["package"] / "metrics.json").read_text())["exports"]
    for name, file in (("tflite-fp16", "model_fp16.tflite"), ("tflite-int8", "model_int8.tflite")):
        export = exports[name]
        assert "error" not in export, export
        assert export["file"] == file and export["bytes"] == (run["package"] / file).stat().st_size
        parity = export["parity"]
        assert parity["images"] == run["manifest"]["counts"]["validation"]
        assert set(parity["per_class_ap"]) == {"circle", "square", "triangle"}
        assert parity["saved_model"]["map_50"] == exports["onnx"]["parity"]["saved_model"]["map_50"]
        interpreter = tf.lite.Interpreter(model_path=str(run["package"] / file))
        assert list(interpreter.get_input_details()[0]["shape"]) == [1, 128, 128, 3]
    fp16 = exports["tflite-fp16"]["parity"]
    # judged object by object: it finds what the SavedModel finds (scores ≥ 0.3, same class, IoU ≥ 0.5). Its mAP@0.5
    # on this short run's 5 validation images is reported but not bounded here: a barely trained model's AP hangs on
    # its low-score boxes, and the drop came out 0.028 and 0.168 in two runs with no detection lost or new
    assert fp16["lost_detections"] + fp16["new_detections"] <= 2 and fp16["max_box_difference"] < 0.01, fp16
    assert isinstance(fp16["map_50_drop"], float) and isinstance(fp16["map_50"], float), fp16
    assert exports["tflite-int8"]["bytes"] < 0.7 * exports["tflite-fp16"]["bytes"]


def test_onnx_runtime_answers_what_tensorflow_answers_and_the_answer_says_which_served(run):
    """The same requests through score.py on each runtime: TensorFlow in the trainer's environment, ONNX Runtime in
    the ONNX-only serving environment (no TensorFlow installed), where `auto` picks it by itself."""
    from trainer_image.serving import runtimes

    assert runtimes.choose("auto", run["package"])[0] == "onnx"
    images = scenes([(128, 128), (96, 160), (200, 120)])
    answers = {
        "tensorflow": served_by(sys.executable, run["package"], "tensorflow", images),
        "onnx": served_by(str(REPO / ".venv-serving-onnx" / "bin" / "python"), run["package"], "auto", images)}
    for tf_answer, onnx_answer in zip(answers["tensorflow"], answers["onnx"], strict=True):
        assert (tf_answer["model"]["runtime"], onnx_answer["model"]["runtime"]) == ("tensorflow", "onnx")
        assert len(tf_answer["detections"]) == len(onnx_answer["detections"])
        same_detections(tf_answer, onnx_answer, 1e-3)


def served_by(python: str, package: Path, runtime: str, images: list) -> list[dict]:
    """score.py run by `python` in a process of its own, scoring `images`: one JSON answer each. The ONNX-only
    environment cannot import TensorFlow at all (it is not installed there), as in its serving image."""
    import base64
    import io

    program = textwrap.dedent("""
        import base64, io, json, sys
        from PIL import Image
        from trainer_image.serving import score
        score.init()
        for line in sys.stdin:
            image = Image.open(io.BytesIO(base64.b64decode(line))).convert("RGB")
            print(json.dumps(score.detect(image, 0.1, 20)))
        assert "tensorflow" not in sys.modules or score._runtime == "tensorflow", "TensorFlow imported for ONNX"
        """)
    encoded = []
    for image in images:
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        encoded.append(base64.b64encode(buffer.getvalue()).decode())
    env = os.environ | {"AZUREML_MODEL_DIR": str(package), "SERVING_RUNTIME": runtime, "PYTHONPATH": str(REPO),
                        "SCORE_MAX_BATCH": "1"}
    done = subprocess.run([python, "-c", program], input="\n".join(encoded) + "\n", env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]
