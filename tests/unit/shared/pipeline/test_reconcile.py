"""Runs whose end was never delivered are asked about, and finished exactly as their event would have."""

from __future__ import annotations

from shared.pipeline.records import RunStatus
from shared.training import JobState


def test_a_silent_run_is_asked_about_after_the_interval_and_finished_as_its_event_would(pipeline):
    job = pipeline.train("silent")
    pipeline.training.states[job] = JobState("Completed")
    assert pipeline.reconcile.reconcile_all(pipeline.later(599)) == []  # too early to ask
    assert pipeline.reconcile.reconcile_all(pipeline.later(2)) == [job]
    run = pipeline.run("silent")
    assert run.status == RunStatus.COMPLETED and pipeline.state("silent").phase == "idle"
    assert pipeline.end(job, "Failed").outcome == "duplicate"  # the original event arrives after all
    assert pipeline.run("silent").updated == run.updated


def test_a_run_still_going_is_asked_again_only_after_another_interval(pipeline):
    job = pipeline.train("long")
    asked = []
    status = pipeline.training.status
    pipeline.training.status = lambda name: asked.append(name) or status(name)
    assert pipeline.reconcile.reconcile_all(pipeline.later(601)) == [] and asked == [job]
    assert pipeline.reconcile.reconcile_all(pipeline.later(300)) == [] and asked == [job]
    pipeline.reconcile.reconcile_all(pipeline.later(301))
    assert asked == [job, job] and pipeline.state("long").phase == "submitted"


def test_a_job_the_backend_never_heard_of_is_a_run_lost_to_the_infrastructure(pipeline):
    job = pipeline.train("vanished")
    del pipeline.training.jobs[job]  # a local mode stopped with its trainer
    assert pipeline.reconcile.reconcile_all(pipeline.later(601)) == [job]
    run = pipeline.run("vanished")
    assert (run.status, run.failure, run.reason) == (RunStatus.FAILED, "infrastructure", "no such job")
    assert pipeline.state("vanished").attempt == 2  # and it will be trained again


def test_the_reason_the_backend_gives_is_the_runs_reason(pipeline):
    job = pipeline.train("oom")
    pipeline.training.states[job] = JobState("Failed", "CUDA out of memory")
    pipeline.reconcile.reconcile_all(pipeline.later(601))
    assert pipeline.run("oom").reason == "CUDA out of memory"
