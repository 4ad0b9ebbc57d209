import re

import pytest

from shared.gates import GatePolicy, evaluate_gates

POLICY = GatePolicy(min_map=0.3, min_map_50=0.5, min_class_ap=0.2, min_validation_images=10, max_regression=0.02)


def metrics(**kw):
    base = {"map": 0.45, "map_50": 0.7, "validation_images": 40, "per_class_ap": {"cat": 0.5, "dog": 0.4},
            "dataset_version": "v2"}
    return base | kw


def test_a_good_model_passes_with_the_checks_recorded():
    decision = evaluate_gates(metrics(), POLICY)
    assert decision.passed and decision.reasons == []
    assert decision.checks == {"validation_images": 40, "map": 0.45, "map_50": 0.7}


def test_every_failing_gate_gives_its_reason():
    decision = evaluate_gates(metrics(map=0.1, map_50=0.2, validation_images=3,
                                      per_class_ap={"cat": 0.05, "dog": -1.0}), POLICY)
    assert not decision.passed
    assert decision.reasons == ["only 3 validation images (minimum 10)", "map 0.100 is below 0.300",
                                "map_50 0.200 is below 0.500", "AP of class 'cat' 0.050 is below 0.200"]


def test_non_regression_against_the_champion_on_the_same_images():
    same = {"map": 0.5, "validation_images": 40, "dataset_version": "v2"}
    assert evaluate_gates(metrics(map=0.49, champion=same), POLICY).passed  # within the tolerance
    worse = evaluate_gates(metrics(map=0.45, champion=same), POLICY)
    assert not worse.passed and "regresses from the champion's 0.500" in worse.reasons[0]
    other_split = evaluate_gates(metrics(champion={"map": 0.2, "validation_images": 40, "dataset_version": "v1"}),
                                 POLICY)
    assert not other_split.passed and "different splits is refused" in other_split.reasons[0]


def test_a_class_forgotten_while_the_mean_holds_is_refused_with_its_name():
    """The champion found dogs; the retrain on new cat images lost them, and its mAP still matches."""
    champion = {"map": 0.45, "validation_images": 40, "dataset_version": "v2",
                "per_class_ap": {"cat": 0.30, "dog": 0.60, "bird": 0.70}}
    run = metrics(map=0.45, champion=champion, per_class_ap={"cat": 0.58, "dog": 0.32, "bird": 0.25},
                  validation_objects={"cat": 30, "dog": 25, "bird": 4})
    decision = evaluate_gates(run, POLICY)
    assert not decision.passed
    assert decision.reasons == ["AP of class 'dog' 0.320 regresses from the champion's 0.600 by more than 0.050 "
                                "on the same 25 validation objects"]  # bird: 4 objects, too few to judge
    assert decision.checks["class_regression"] == {"cat": 0.28, "dog": -0.28}


def test_a_small_per_class_dip_within_the_tolerance_passes():
    champion = {"map": 0.45, "validation_images": 40, "dataset_version": "v2",
                "per_class_ap": {"cat": 0.5, "dog": 0.42}}
    run = metrics(champion=champion, validation_objects={"cat": 30, "dog": 25})
    assert evaluate_gates(run, POLICY).passed  # dog 0.40 vs 0.42: within 0.05


def test_without_per_class_counts_the_class_check_says_it_did_not_run():
    champion = {"map": 0.45, "validation_images": 40, "dataset_version": "v2", "per_class_ap": {"dog": 0.9}}
    decision = evaluate_gates(metrics(champion=champion), POLICY)
    assert decision.checks["class_regression"].startswith("not checked")


def golden(map_=0.6, per_class=None, champion=None, **kw):
    return {"map": map_, "map_50": 0.8, "images": 30, "per_class_ap": per_class or {"cat": 0.6, "dog": 0.6},
            "objects": {"cat": 20, "dog": 20}} | ({"champion": champion} if champion else {}) | kw


def test_the_golden_set_catches_a_forgotten_class_the_validation_split_did_not_show():
    """The validation split (new images, mostly cats) holds; the fixed golden set shows the dogs were lost."""
    champion = {"map": 0.6, "map_50": 0.8, "per_class_ap": {"cat": 0.55, "dog": 0.65}}
    run = metrics(golden=golden(map_=0.59, per_class={"cat": 0.62, "dog": 0.41}, champion=champion))
    decision = evaluate_gates(run, POLICY)
    assert not decision.passed
    assert decision.reasons == ["golden set: AP of class 'dog' 0.410 regresses from the champion's 0.650 by more "
                                "than 0.050 on the same 20 golden objects"]
    assert decision.checks["golden_class_regression"] == {"cat": 0.07, "dog": -0.24}
    assert (decision.checks["golden_map"], decision.checks["golden_champion_map"]) == (0.59, 0.6)


def test_the_golden_set_holds_the_mean_to_the_champion_and_reports_without_one():
    worse = evaluate_gates(metrics(golden=golden(map_=0.5, champion={"map": 0.6, "per_class_ap": {}})), POLICY)
    assert worse.reasons == ["golden set: map 0.500 regresses from the champion's 0.600 by more than 0.020 on "
                             "the same 30 golden images"]
    first = evaluate_gates(metrics(golden=golden()), POLICY)  # the first model: figures, nothing to compare with
    assert first.passed and first.checks["golden_map"] == 0.6 and "golden_champion_map" not in first.checks


def test_a_golden_set_that_could_not_be_evaluated_stops_the_release():
    decision = evaluate_gates(metrics(golden={"error": "no detections file"}), POLICY)
    assert decision.reasons == ["golden set could not be evaluated: no detections file"]
    failed = evaluate_gates(metrics(golden=golden(champion={"error": "champion could not be evaluated: gone"})),
                            POLICY)
    assert failed.reasons == ["champion could not be compared on the golden set: champion could not be evaluated: "
                              "gone"]


def onnx(map_50=0.7, drop=0.0, **kw):
    parity = {"map_50": map_50 - drop, "map_50_drop": drop, "images": 40, "saved_model": {"map_50": map_50}} | kw
    return {"onnx": {"file": "model.onnx", "bytes": 3_600_000, "seconds": 24.0, "parity": parity}}


def test_an_export_that_detects_as_the_saved_model_passes():
    decision = evaluate_gates(metrics(exports=onnx(drop=0.002)), POLICY)
    assert decision.passed and decision.checks["onnx_map_50_drop"] == 0.002


def test_an_export_that_lost_accuracy_in_conversion_stops_the_release():
    decision = evaluate_gates(metrics(exports=onnx(drop=0.03)), POLICY)
    assert not decision.passed
    assert decision.reasons == ["onnx export's map_50 0.670 is 0.030 below the SavedModel's 0.700 (at most 0.005) "
                                "on the same 40 validation images"]


def test_an_export_written_but_not_measured_is_refused():
    unmeasured = {"onnx": {"file": "model.onnx", "parity": {"error": "no validation images to compare on"}}}
    decision = evaluate_gates(metrics(exports=unmeasured), POLICY)
    assert decision.reasons == ["onnx export's accuracy unknown: no validation images to compare on"]


def test_an_architecture_that_cannot_be_converted_is_noted_and_released_as_a_saved_model():
    failed = {"onnx": {"error": "tf2onnx exited 1: Unsupported ops: TensorListReserve", "seconds": 3.1}}
    decision = evaluate_gates(metrics(exports=failed), POLICY)
    assert decision.passed
    assert decision.checks["onnx_export"] == "not written: tf2onnx exited 1: Unsupported ops: TensorListReserve"


def tflite(drop: float) -> dict:
    parity = {"map_50": 0.7 - drop, "map_50_drop": drop, "images": 40, "saved_model": {"map_50": 0.7}}
    return {name: {"file": f"model_{name[7:]}.tflite", "bytes": 1_100_000, "seconds": 20.0, "parity": parity}
            for name in ("tflite-fp16", "tflite-int8")}


def test_device_exports_are_reported_not_gated_unless_the_project_asks():
    """An int8 model loses some accuracy by design: its figures go on the release, and hold it back only when the
    project sets a limit for device formats."""
    lossy = metrics(exports=onnx(drop=0.0) | tflite(drop=0.04))
    decision = evaluate_gates(lossy, POLICY)
    assert decision.passed and decision.checks["tflite-int8_map_50_drop"] == 0.04
    assert decision.checks["tflite-int8_export"] == "reported, not gated (GATE_MAX_EDGE_MAP_DROP is not set)"
    strict = evaluate_gates(lossy, GatePolicy(min_map_50=0.5, max_edge_map_drop=0.02))
    assert not strict.passed
    assert strict.reasons == [f"{name} export's map_50 0.660 is 0.040 below the SavedModel's 0.700 (at most 0.020) "
                              "on the same 40 validation images" for name in ("tflite-fp16", "tflite-int8")]
    assert evaluate_gates(lossy, GatePolicy(min_map_50=0.5, max_edge_map_drop=0.05)).passed


def test_a_run_without_evaluation_never_passes():
    decision = evaluate_gates({"error": "no validation images: nothing to evaluate"}, POLICY)
    assert not decision.passed and "no validation images" in decision.reasons[0]


def test_a_project_can_have_its_own_thresholds():
    from shared.gates import policy_for

    default = GatePolicy(min_map_50=0.5)
    overrides = '{"cars": {"min_map_50": 0.8, "min_class_ap": 0.3}}'
    assert policy_for("cars", default, overrides) == GatePolicy(min_map_50=0.8, min_class_ap=0.3)
    assert policy_for("shapes", default, overrides) == default
    metrics = {"map": 0.5, "map_50": 0.7, "validation_images": 20, "per_class_ap": {"car": 0.6}}
    assert evaluate_gates(metrics, policy_for("shapes", default, overrides)).passed
    assert not evaluate_gates(metrics, policy_for("cars", default, overrides)).passed


@pytest.mark.parametrize("overrides, message", [
    ("{not json", "not valid JSON"),
    ('{"cars": {"min_mAP": 0.8}}', "unknown field(s) ['min_mAP']"),
    ('{"cars": 0.8}', "must be an object"),
])
def test_bad_overrides_name_the_problem(overrides, message):
    from shared.gates import policy_for

    with pytest.raises(ValueError, match=re.escape(message)):
        policy_for("cars", GatePolicy(), overrides)
