"""Blue/green releases, one idempotent step at a time: traffic moves only to a slot that answered as its model."""

from __future__ import annotations

import json

import pytest

from shared.ports import DeploymentSpec


def approved(pipeline, project: str = "rel", seed: int = 1, start: int = 0) -> DeploymentSpec:
    """A registered, approved model version (its run has a manifest with validation images)."""
    job = pipeline.train(project, images=12, seed=seed, start=start)
    pipeline.write_metrics(job, map=0.5, map_50=0.8)
    pipeline.end(job)
    run = pipeline.run(project, pipeline.training.jobs[job].batch_id)
    pipeline.registry.set_state(run.model_name, run.model_version, "approved")
    return DeploymentSpec(project, run.model_name, run.model_version, f"{project}/{run.batch_id}/model")


def batch_of(spec: DeploymentSpec) -> str:
    return spec.model_folder.split("/")[1]


def test_a_release_switches_all_traffic_to_the_new_slot_and_retires_the_old_model(pipeline):
    first = approved(pipeline)
    assert pipeline.release.start(first, batch_of(first), pipeline.now)["phase"] == "live"
    second = approved(pipeline, seed=2, start=20)
    assert pipeline.release.start(second, batch_of(second), pipeline.now)["phase"] == "live"
    shown = pipeline.release.status("rel")
    assert (shown["live_slot"], shown["traffic"], shown["live_model"]["version"]) == ("green", {"green": 100}, "2")
    assert pipeline.endpoints.deployed == {"green": "2"} and pipeline.endpoints.traffic == {"green": 100, "blue": 0}
    assert (pipeline.model_state("tfod-rel", "1"), pipeline.model_state("tfod-rel", "2")) == (
        "retired", "deployed")
    assert pipeline.run("rel", batch_of(first)).model_state == "retired"
    assert pipeline.state("rel").champion_model == second.model_folder


def test_a_model_whose_onnx_export_passed_parity_is_deployed_to_be_served_by_onnx_runtime(pipeline):
    """The runtime is chosen once, at release, from the model's own figures: it picks the serving environment."""
    measured = {"onnx": {"file": "model.onnx", "parity": {"map_50": 0.8, "map_50_drop": 0.0, "images": 3}}}
    first = approved(pipeline)
    metrics = f"{first.model_folder}/metrics.json"
    pipeline.blobs.write(pipeline.settings.models_container, metrics, json.dumps(
        {"map": 0.5, "map_50": 0.8, "exports": measured}).encode())
    assert pipeline.release.start(first, batch_of(first), pipeline.now)["phase"] == "live"
    second = approved(pipeline, seed=2, start=20)  # trained without EXPORT_FORMATS
    assert pipeline.release.start(second, batch_of(second), pipeline.now)["phase"] == "live"
    assert pipeline.endpoints.runtimes == {"blue": "onnx", "green": "tensorflow"}


def test_a_release_queued_during_another_is_kept_and_started_next(pipeline):
    first, second = approved(pipeline), approved(pipeline, seed=2, start=20)
    queued = []
    pipeline.endpoints.during_smoke_test.append(  # approved while version 1 is being smoke-tested
        lambda: queued.append(pipeline.release.request(second, batch_of(second))))
    assert pipeline.release.request(first, batch_of(first)) == "requested"
    assert pipeline.release.advance("rel") == "live" and queued == ["queued"]
    shown = pipeline.release.status("rel")
    assert shown["live_model"]["version"] == "1" and shown["queued"]["model_version"] == "2"
    pipeline.release.advance_all()
    shown = pipeline.release.status("rel")
    assert shown["live_model"]["version"] == "2" and shown["live_slot"] == "green" and "queued" not in shown


def test_a_deployment_that_fails_is_removed_and_the_live_model_keeps_serving(pipeline):
    live = approved(pipeline)
    pipeline.release.start(live, batch_of(live), pipeline.now)
    broken = approved(pipeline, seed=2, start=20)
    pipeline.endpoints.outcome = "failed: image pull back-off"
    assert pipeline.release.start(broken, batch_of(broken), pipeline.now)["phase"] == "rolled-back"
    shown = pipeline.release.status("rel")
    assert (shown["live_slot"], shown["live_model"]["version"], shown["reason"]) == (
        "blue", "1", "failed: image pull back-off")
    assert pipeline.endpoints.deployed == {"blue": "1"} and pipeline.model_state("tfod-rel", "2") == "deploy-failed"
    assert pipeline.run("rel", batch_of(broken)).deploy_reason == "failed: image pull back-off"


def test_a_deployment_never_ready_is_rolled_back_after_the_timeout(pipeline):
    spec = approved(pipeline)
    pipeline.endpoints.outcome = "provisioning"
    assert pipeline.release.start(spec, batch_of(spec), pipeline.now)["phase"] == "provisioning"
    pipeline.release.advance_all(pipeline.later(44 * 60))
    assert pipeline.release.status("rel")["phase"] == "provisioning"
    pipeline.release.advance_all(pipeline.later(2 * 60))
    shown = pipeline.release.status("rel")
    assert shown["phase"] == "rolled-back" and shown["reason"] == "failed: not ready after 45 minutes"
    assert pipeline.endpoints.deployed == {} and shown["live_model"] is None


def test_a_slot_that_answers_as_another_model_fails_its_smoke_test(pipeline):
    spec = approved(pipeline)
    pipeline.endpoints.answer_version = "0"
    assert pipeline.release.start(spec, batch_of(spec), pipeline.now)["phase"] == "rolled-back"
    reason = pipeline.release.status("rel")["reason"]
    assert reason.startswith("smoke test failed:") and "scored by model version 0, not 1" in reason


def test_a_crash_while_switching_traffic_is_finished_by_the_next_tick(pipeline):
    spec = approved(pipeline)
    pipeline.endpoints.fail_route = TimeoutError("ARM timed out")
    with pytest.raises(TimeoutError):
        pipeline.release.start(spec, batch_of(spec), pipeline.now)
    assert pipeline.release.status("rel")["phase"] == "provisioning"
    pipeline.release.advance_all(pipeline.later(60))
    shown = pipeline.release.status("rel")
    assert (shown["phase"], shown["live_slot"], shown["traffic"]) == ("live", "blue", {"blue": 100})
    assert pipeline.model_state("tfod-rel", "1") == "deployed"
    pipeline.release.advance_all(pipeline.later(60))  # nothing left to do
    assert pipeline.release.status("rel") == shown
