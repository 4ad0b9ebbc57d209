"""A run's end: its record, the gates, registration and the approval request, and the project freed; once only."""

from __future__ import annotations

import json

from shared.pipeline.records import RunStatus
from shared.training import FAILURE_FILE, model_folder


def test_a_run_that_passes_its_gates_is_registered_and_a_person_is_asked(pipeline):
    job = pipeline.train("good")
    pipeline.write_metrics(job, map=0.5, map_50=0.8, per_class_ap={"cat": 0.6, "dog": 0.4},
                           dataset_counts={"images": 12, "boxes": 30})
    assert pipeline.end(job).outcome == "ended"
    request = pipeline.training.jobs[job]
    run = pipeline.run("good")
    assert (run.status, run.gates_passed, json.loads(run.gate_reasons)) == (RunStatus.COMPLETED, True, [])
    assert (run.model_name, run.model_version, run.model_state) == ("tfod-good", "1", "pending-approval")
    assert (json.loads(run.per_class_ap), run.validation_images, run.images) == ({"cat": 0.6, "dog": 0.4}, 3, 12)
    (registered,) = pipeline.tables.query("modelregistry", "tfod-good")
    assert json.loads(registered["tags"])["dataset_version"] == request.dataset_version  # its lineage
    (notice,) = pipeline.chat.notices
    assert notice.title == "Release tfod-good version 1?" and "/api/approvals?token=" in notice.link
    assert ("mAP@0.5", "0.800") in notice.facts and ("Dataset", request.dataset_version) in notice.facts
    state = pipeline.state("good")
    assert (state.phase, state.active_job, state.trained_version) == ("idle", "", request.dataset_version)


def test_a_run_below_its_gates_is_kept_with_every_reason_and_nobody_is_asked(pipeline):
    pipeline.rewire(gate_min_map=0.3, gate_min_validation_images=5)
    job = pipeline.train("weak")
    pipeline.write_metrics(job, map=0.12, map_50=0.4)
    pipeline.end(job)
    run = pipeline.run("weak")
    assert run.gates_passed is False and run.model_version is None and pipeline.chat.notices == []
    assert json.loads(run.gate_reasons) == ["only 3 validation images (minimum 5)", "map 0.120 is below 0.300"]
    shown = pipeline.status("weak")["runs"][0]
    assert shown["gate_reasons"] == json.loads(run.gate_reasons) and shown["report"].endswith(run.batch_id)


def test_a_completed_run_without_metrics_fails_its_gates_saying_so(pipeline):
    job = pipeline.train("empty")
    pipeline.end(job)
    reasons = json.loads(pipeline.run("empty").gate_reasons)
    assert len(reasons) == 1 and "metrics.json not found" in reasons[0]


def test_redelivered_and_contradicting_late_events_change_nothing(pipeline):
    job = pipeline.train("idem")
    pipeline.write_metrics(job, map=0.5, map_50=0.8)
    pipeline.end(job)
    before = pipeline.run("idem")
    assert pipeline.end(job).outcome == "duplicate"
    assert pipeline.end(job, "Failed").outcome == "duplicate"
    assert pipeline.end(job, "Running").outcome == "duplicate"
    after = pipeline.run("idem")
    assert (after.status, after.updated, after.model_version) == (RunStatus.COMPLETED, before.updated, "1")
    assert len(pipeline.chat.notices) == 1 and len(list(pipeline.tables.query("modelregistry", "tfod-idem"))) == 1


def test_progress_is_recorded_in_azures_spelling_and_foreign_runs_are_ignored(pipeline):
    job = pipeline.train("prog")
    request = pipeline.training.jobs[job]
    assert pipeline.complete.handle(pipeline.run_event(job, "running", "prog", request.batch_id)).outcome == "progress"
    assert pipeline.run("prog").status == RunStatus.RUNNING
    foreign = pipeline.run_event("x", "Completed", "other", "x")
    foreign.tags.clear()
    assert pipeline.complete.handle(foreign).outcome == "ignored" and pipeline.records.runs("other") == []


def test_a_run_lost_to_the_infrastructure_gives_its_changes_back_and_retries_with_backoff(pipeline):
    job = pipeline.train("lost")
    pipeline.end(job, "Failed", error="node preempted")
    run = pipeline.run("lost")
    assert (run.status, run.failure, run.reason) == (RunStatus.FAILED, "infrastructure", "node preempted")
    state = pipeline.state("lost")
    assert (state.phase, state.attempt, state.runs_today, state.cut) == ("idle", 2, 0, "")
    held = pipeline.submit.tick("lost", pipeline.later(61))
    assert held.decision.action == "hold" and "attempt 2 of 3" in held.decision.reason
    retry = pipeline.submit.tick("lost", pipeline.later(120))  # after the backoff
    assert retry.decision.action == "flush" and retry.batch_id != run.batch_id
    assert pipeline.run("lost", retry.batch_id).attempt == 2 and pipeline.state("lost").new_images == 4


def test_after_the_last_attempt_the_changes_wait_for_new_data_with_the_reason_shown(pipeline):
    pipeline.rewire(max_run_attempts=2, retry_backoff_seconds=0)
    pipeline.end(pipeline.train("gone"), "Failed", error="node preempted")
    second = pipeline.submit.tick("gone", pipeline.later(1))
    pipeline.end(second.job_name, "Failed", error="node preempted")
    held = pipeline.submit.tick("gone", pipeline.later(3600))
    assert held.decision.action == "hold" and "gave up after 2 attempts" in held.decision.reason
    shown = pipeline.status("gone")
    assert shown["pending"]["new_images"] == 4 and shown["window"]["last_failure"] == "node preempted"
    again = pipeline.train("gone", images=1, seed=53, start=50)
    assert pipeline.training.jobs[again].dataset_version and pipeline.state("gone").new_images == 5


def test_a_failure_the_trainer_reports_itself_is_not_retried(pipeline):
    job = pipeline.train("broken")
    request = pipeline.training.jobs[job]
    pipeline.blobs.write(pipeline.settings.models_container,
                         f"{model_folder('broken', request.batch_id)}/{FAILURE_FILE}",
                         json.dumps({"error": "base model base-models/tiny has no checkpoint"}).encode())
    pipeline.end(job, "Failed")
    run = pipeline.run("broken")
    assert (run.failure, run.reason) == ("code", "base model base-models/tiny has no checkpoint")
    state = pipeline.state("broken")
    assert (state.attempt, state.retry_after, state.failure) == (1, "", run.reason)
    assert pipeline.submit.tick("broken", pipeline.later(3600)).decision.action == "wait"  # changes consumed
