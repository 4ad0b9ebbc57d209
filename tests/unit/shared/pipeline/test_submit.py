"""The timer's use case: one run per settled burst, crash-safe step by step, once however many instances race."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from local_mode.demo_data import vott_export
from shared.pipeline.records import RunStatus
from shared.pipeline.status import ProjectStatus
from shared.pipeline.submit import LEFT_FOR_NEXT_TICK, SubmitTraining


def test_a_burst_waits_for_quiet_then_trains_once_on_all_of_it(pipeline):
    pipeline.upload("shapes", vott_export(6, seed=1, size=64))
    assert pipeline.submit.tick("shapes", pipeline.later(30)).decision.action == "wait"
    pipeline.upload("shapes", vott_export(2, seed=2, start=10, size=64))
    assert pipeline.submit.tick("shapes", pipeline.later(59)).decision.action == "wait"  # the clock restarted

    outcome = pipeline.submit.tick("shapes", pipeline.later(2))
    assert outcome.decision.action == "flush" and pipeline.training.submissions == [outcome.job_name]
    request = pipeline.training.jobs[outcome.job_name]
    manifest = json.loads(pipeline.blobs.read(pipeline.settings.manifests_container, request.manifest_blob).data)
    assert manifest["counts"]["images"] == 8 and manifest["dataset_version"] == request.dataset_version
    state = pipeline.state("shapes")
    assert (state.phase, state.active_job, state.new_images, state.runs_today) == (
        "submitted", outcome.job_name, 8, 1)
    assert state.changes == 8 * 2 + 1  # each image and annotation, and the label map (saved twice) once
    run = pipeline.run("shapes")
    assert (run.status, run.job_name, run.dataset_version) == (RunStatus.SUBMITTED, outcome.job_name,
                                                               request.dataset_version)
    held = pipeline.submit.tick("shapes", pipeline.later(3600))
    assert held.decision.action == "wait" and pipeline.training.submissions == [outcome.job_name]


def test_a_window_that_closes_during_a_run_holds_then_coalesces_everything_after_it(pipeline):
    first = pipeline.train("busy")
    pipeline.upload("busy", vott_export(3, seed=5, start=10, size=64))
    held = pipeline.submit.tick("busy", pipeline.later(61))
    assert held.decision.action == "hold" and first in held.decision.reason
    pipeline.upload("busy", vott_export(2, seed=6, start=20, size=64))
    pipeline.end(first)
    second = pipeline.submit.tick("busy", pipeline.later(61))
    assert second.decision.action == "flush" and pipeline.state("busy").new_images == 5


def test_the_same_dataset_is_not_trained_twice(pipeline):
    job = pipeline.train("same")
    pipeline.end(job)
    unchanged = vott_export(4, seed=1, size=64)["Annotations/img_00000.xml"]
    pipeline.upload("same", {"Annotations/img_00000.xml": unchanged})  # saved again: a new ETag, the same label
    outcome = pipeline.submit.tick("same", pipeline.later(pipeline.settings.max_wait_seconds + 1))
    assert outcome.decision.action == "flush" and outcome.job_name is None
    skipped = [r for r in pipeline.records.runs("same") if r.status == RunStatus.SKIPPED]
    assert len(skipped) == 1 and "is the one last trained" in skipped[0].reason
    assert pipeline.state("same").phase == "idle" and pipeline.training.submissions == [job]


def test_images_whose_annotations_no_reader_takes_train_nothing_and_say_why(pipeline):
    """A COCO export renamed, a CSV export: the images arrive, no boxes do. No run trains on background only, and
    the status says which file was not read."""
    files = {k: v for k, v in vott_export(3, seed=4, size=64).items() if k.startswith("JPEGImages/")}
    pipeline.upload("csv", files | {"_annotations.csv": b"filename,xmin,ymin,xmax,ymax,class\n"})
    outcome = pipeline.submit.tick("csv", pipeline.later(pipeline.settings.max_wait_seconds + 1))
    assert outcome.decision.action == "flush" and outcome.job_name is None
    (skipped,) = pipeline.records.runs("csv")
    assert skipped.status == RunStatus.SKIPPED and skipped.reason.startswith(
        "1 annotation file not read (csv/_annotations.csv)")
    assert "no boxes in 3 images" in skipped.reason and pipeline.training.submissions == []
    alerts = pipeline.status("csv")["dataset_alerts"]
    assert alerts[0].startswith("1 annotation file not read") and alerts[1].startswith("no boxes in 3 images")


def test_redelivered_events_count_once(pipeline):
    events = pipeline.upload("dup", vott_export(3, seed=3, size=64))
    again = pipeline.ingest.ingest(events[:1], pipeline.now)  # a delivery of one: a create-only write
    assert again.duplicates == 1 and again.recorded == 0
    pipeline.ingest.ingest(events, pipeline.now)  # a batch: rewritten identically
    pending, _ = pipeline.submit.pending("dup", "")
    assert (pending.images, pending.changes) == (3, 3 * 2 + 1)  # images, annotations, label map


def test_the_daily_cap_holds_with_its_reason_and_rolls_over_at_midnight_utc(pipeline):
    pipeline.rewire(max_runs_per_day=1)
    pipeline.end(pipeline.train("cap"))
    pipeline.upload("cap", vott_export(2, seed=8, start=5, size=64))
    held = pipeline.submit.tick("cap", pipeline.later(61))
    assert held.decision.action == "hold" and "daily cap of 1 runs" in held.decision.reason
    shown = pipeline.status("cap")
    assert shown["window"]["next"] == "hold" and shown["pending"]["new_images"] == 2
    midnight = pipeline.now.replace(hour=0, minute=0, second=1) + timedelta(days=1)
    pipeline.now = midnight
    assert pipeline.status("cap")["window"]["runs_today"] == 0
    assert pipeline.submit.tick("cap", midnight).decision.action == "flush"
    assert pipeline.state("cap").runs_today == 1


def test_newer_data_cancels_the_active_run_when_configured(pipeline):
    pipeline.rewire(cancel_running_on_new_data=True)
    first = pipeline.train("fresh")
    pipeline.upload("fresh", vott_export(2, seed=9, start=30, size=64))
    second = pipeline.submit.tick("fresh", pipeline.later(61))
    assert second.decision.action == "cancel_and_flush" and pipeline.training.cancelled == [first]
    old = pipeline.run("fresh", pipeline.training.jobs[first].batch_id)
    assert old.status == RunStatus.CANCELED and old.reason == "superseded by newer data"
    pipeline.end(first, "Canceled")  # its end arrives afterwards: the new run stays active
    assert pipeline.state("fresh").active_job == second.job_name


class Crash(Exception):
    """The process died here."""


class CrashAfter:
    """Lets `budget[0]` writes through (shared by every wrapped port), then dies on the next one."""

    WRITES = {"write", "insert", "upsert", "update", "upsert_many", "submit", "delete", "cancel"}

    def __init__(self, target, budget: list[int]) -> None:
        self.target, self.budget = target, budget

    def __getattr__(self, name):
        attr = getattr(self.target, name)
        if name not in self.WRITES:
            return attr

        def guarded(*args, **kwargs):
            if self.budget[0] <= 0:
                raise Crash(f"crashed before {name}")
            self.budget[0] -= 1
            return attr(*args, **kwargs)
        return guarded


def test_a_crash_before_any_write_of_the_flush_is_finished_by_the_next_tick_without_a_duplicate(pipeline):
    crashes = 0
    for allowed in range(40):
        project = f"crash{allowed}"
        pipeline.upload(project, vott_export(3, seed=11, size=64))
        budget = [allowed]
        dying = SubmitTraining(CrashAfter(pipeline.blobs, budget), CrashAfter(pipeline.tables, budget),
                               CrashAfter(pipeline.training, budget), pipeline.settings)
        try:
            dying.tick(project, pipeline.later(61))
            crashed = False
        except Crash:
            crashes, crashed = crashes + 1, True
            pipeline.submit.tick(project, pipeline.later(1))  # the next timer tick, healthy
        pipeline.submit.tick(project, pipeline.later(1))  # and one more: changes nothing
        state = pipeline.state(project)
        assert (state.phase, state.step, state.runs_today) == ("submitted", "submitted", 1), (allowed, state)
        (run,) = pipeline.records.runs(project)
        assert run.job_name == state.active_job and run.status == RunStatus.SUBMITTED
        assert list(pipeline.training.jobs).count(state.active_job) == 1
        if not crashed:
            break
    assert crashes >= 6, "the flush should have been interrupted at each of its writes"
    assert len(pipeline.training.jobs) == crashes + 1


def test_a_submission_the_backend_refuses_is_retried_by_the_next_tick(pipeline):
    pipeline.training.refuse = ConnectionError("Azure ML is unavailable")
    pipeline.upload("flaky", vott_export(3, seed=12, size=64))
    with pytest.raises(ConnectionError):
        pipeline.submit.tick("flaky", pipeline.later(61))
    assert pipeline.state("flaky").step == "submitting"
    assert pipeline.status("flaky")["window"]["step"] == "submitting"
    pipeline.training.refuse = None
    outcome = pipeline.submit.tick("flaky", pipeline.later(60))
    assert outcome.decision.action == "resume" and pipeline.state("flaky").phase == "submitted"
    assert pipeline.training.submissions == [outcome.job_name] * 2 and len(pipeline.training.jobs) == 1


class Interleave:
    """Runs `other` just before the first write to the state table: another timer instance that moves first."""

    def __init__(self, tables, table: str, other) -> None:
        self.tables, self.table, self.other = tables, table, other

    def __getattr__(self, name):
        attr = getattr(self.tables, name)
        if name not in ("update", "insert"):
            return attr

        def first_the_other(table, *args, **kwargs):
            if table == self.table and self.other:
                other, self.other = self.other, None
                other()
            return attr(table, *args, **kwargs)
        return first_the_other


def test_racing_timer_instances_flush_once(pipeline):
    pipeline.upload("race", vott_export(4, seed=10, size=64))
    now = pipeline.later(61)
    theirs = []
    tables = Interleave(pipeline.tables, pipeline.settings.state_table,
                        lambda: theirs.append(pipeline.submit.tick("race", now)))
    ours = SubmitTraining(pipeline.blobs, tables, pipeline.training, pipeline.settings).tick("race", now)
    assert ours.note == "another instance is handling this flush" and ours.job_name is None
    assert theirs[0].job_name and pipeline.training.submissions == [theirs[0].job_name]


def test_many_instances_at_once_flush_once(pipeline):
    pipeline.upload("crowd", vott_export(4, seed=13, size=64))
    now, barrier, outcomes = pipeline.later(61), threading.Barrier(8), []

    def tick():
        instance = SubmitTraining(pipeline.blobs, pipeline.tables, pipeline.training, pipeline.settings)
        barrier.wait()
        outcomes.append(instance.tick("crowd", now))

    threads = [threading.Thread(target=tick) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pipeline.training.jobs) == 1 and len(pipeline.records.runs("crowd")) == 1
    assert pipeline.state("crowd").runs_today == 1


def test_a_snapshot_larger_than_its_budget_goes_on_tick_after_tick_and_submits_once(pipeline, monkeypatch):
    from shared.dataset import manifest

    monkeypatch.setattr(manifest, "BUCKET_TARGET", 4)  # 30 images over 8 buckets
    pipeline.rewire(snapshot_budget_seconds=0)  # one bucket a tick
    pipeline.upload("big", vott_export(30, seed=14, size=64))
    first = pipeline.submit.tick("big", pipeline.later(61))
    assert first.decision.action == "flush" and first.job_name is None
    assert first.note.startswith("snapshot in progress: checking changed files: 0 of 8 buckets done")
    assert pipeline.status("big")["window"]["snapshot"].startswith("checking changed files")
    ticks = [first]
    while ticks[-1].job_name is None:
        ticks.append(pipeline.submit.tick("big", pipeline.later(60)))
        assert len(ticks) < 30 and ticks[-1].decision.action == "resume"
    assert len(ticks) > 8 and pipeline.training.submissions == [ticks[-1].job_name]
    assert {t.batch_id for t in ticks} == {first.batch_id}  # one flush, carried across the ticks
    request = pipeline.training.jobs[ticks[-1].job_name]
    assert json.loads(pipeline.blobs.read(pipeline.settings.manifests_container, request.manifest_blob).data)[
        "counts"]["images"] == 30
    assert pipeline.status("big")["window"]["snapshot"] is None


def test_a_tick_out_of_time_leaves_further_flushes_for_later_ticks_in_turn(pipeline):
    pipeline.rewire(tick_budget_seconds=0)  # room for one flush a tick
    for project in ("a", "b", "c"):
        pipeline.upload(project, vott_export(2, seed=15, size=64))
    first = pipeline.submit.tick_all(pipeline.later(61))
    flushed = [o.project for o in first if o.job_name]
    assert len(flushed) == 1 and sum(o.note == LEFT_FOR_NEXT_TICK for o in first) == 2
    later = [o.project for _ in range(2) for o in pipeline.submit.tick_all(pipeline.later(60)) if o.job_name]
    assert sorted(flushed + later) == ["a", "b", "c"] and len(pipeline.training.jobs) == 3


def test_the_status_of_all_projects_comes_a_page_at_a_time(pipeline):
    for project in ("p1", "p2", "p3"):
        pipeline.upload(project, vott_export(1, seed=16, size=64))
    view = ProjectStatus(SubmitTraining(pipeline.blobs, pipeline.tables, None, pipeline.settings))
    page = view.all(limit=2)
    assert [p["project"] for p in page["projects"]] == ["p1", "p2"] and page["next"] == "p2"
    rest = view.all(after=page["next"], limit=2)
    assert [p["project"] for p in rest["projects"]] == ["p3"] and rest["next"] is None


def test_the_shard_cache_is_handed_to_the_job_once_a_run_has_filled_it(pipeline):
    first = pipeline.training.jobs[pipeline.train("birds")]
    assert first.tfrecord_cache is None  # nothing to mount yet: a mount of a missing folder fails the job
    pipeline.write_metrics(first.job_name, map=0.5, map_50=0.7)
    pipeline.end(first.job_name)
    pipeline.blobs.write(pipeline.settings.checkpoints_container, "birds/tfrecord-cache/index.json", b"{}")
    second = pipeline.training.jobs[pipeline.train("birds", seed=2, start=10)]
    assert second.tfrecord_cache == "birds/tfrecord-cache"
