"""The event core end to end on Azurite: events through the real handlers, the timer's decision, the flush,
the local trainer twin and its completion events."""

from __future__ import annotations

import json
import random
import threading

import pytest

from local_mode.demo_data import vott_export
from shared.ports import NotFound
from tests.integration.conftest import trainer_command


def manifest_of(core, state) -> dict:
    return json.loads(core.blobs.read(core.settings.manifests_container, state["manifest"]).data)


def jobs_claimed(core, project) -> list[str]:
    return [b.name for b in core.blobs.list(core.settings.checkpoints_container, f"{project}/")
            if b.name.endswith("job.json")]


def test_a_burst_with_duplicates_out_of_order_makes_one_run_on_all_the_data(core):
    files = vott_export(40, seed=1)
    core.upload("shapes", files)
    events = [event for event, _, _ in core.source.changes()]
    delivery = events + random.Random(1).sample(events, len(events) // 10)  # 10% redelivered
    random.Random(2).shuffle(delivery)
    for start in range(0, len(delivery), 7):  # several deliveries of mixed sizes
        core.post_blob_events(delivery[start:start + 7])

    assert core.tick("shapes").decision.action == "wait"  # still inside the quiet period
    outcome = core.tick("shapes", after_seconds=61)
    assert outcome.decision.action == "flush"
    state = core.state("shapes")
    assert (state["phase"], state["changes"], state["new_images"]) == ("submitted", len(files) - 1, 40)
    manifest = manifest_of(core, state)
    assert manifest["counts"]["images"] == 40 and manifest["dataset_version"] == state["dataset_version"]
    assert core.backend.started() == [outcome.job_name]

    core.backend.join(outcome.job_name, timeout=60)
    state = core.state("shapes")
    assert (state["phase"], state["trained_version"]) == ("idle", manifest["dataset_version"])
    (run,) = core.runs("shapes")
    assert (run["status"], run["job_name"], run["dataset_version"]) == ("Completed", outcome.job_name,
                                                                         manifest["dataset_version"])
    assert run["gates_passed"] is False  # this stand-in trainer wrote no model
    assert "metrics.json not found" in json.loads(run["gate_reasons"])[0]
    again = core.tick("shapes", after_seconds=3600)
    assert again.decision.action == "wait" and "no changes" in again.decision.reason
    assert core.backend.started() == [outcome.job_name]


def test_events_for_blobs_deleted_since_and_delete_events(core):
    core.upload("del", vott_export(6, seed=2))
    core.source.poll()
    gone = "del/JPEGImages/img_00001.jpg"
    late = [e for e, name, _ in core.source.changes() if name == gone]  # nothing: already sent
    assert late == []
    core.blobs.delete(core.settings.datasets_container, gone)  # deleted after its BlobCreated was delivered
    core.tick("del", after_seconds=61)
    state = core.state("del")
    names = [i["image"]["name"] for i in manifest_of(core, state)["images"]]
    assert gone not in names and len(names) == 5
    core.backend.join(state["active_job"], timeout=60)
    assert core.source.poll() == 1  # the BlobDeleted event
    pending = core.scheduler().pending("del", core.state("del")["cut"])[0]
    assert (pending.changes, pending.images) == (1, 0)


def test_reupload_with_new_content_is_a_change_and_trains_again(core):
    files = vott_export(5, seed=3)
    core.upload("re", files)
    core.source.poll()
    first = core.tick("re", after_seconds=61)
    core.backend.join(first.job_name, timeout=60)
    core.source.poll()
    assert core.tick("re", after_seconds=120).decision.action == "wait"  # nothing new

    core.upload("re", {"JPEGImages/img_00000.jpg": files["JPEGImages/img_00001.jpg"],  # same names, new content
                       "Annotations/img_00000.xml": files["Annotations/img_00001.xml"].replace(b"img_00001",
                                                                                               b"img_00000")})
    assert core.source.poll() == 2
    second = core.tick("re", after_seconds=61)
    assert second.decision.action == "flush" and second.job_name != first.job_name
    assert "1 new images" in second.decision.reason
    core.backend.join(second.job_name, timeout=60)
    assert len({r["dataset_version"] for r in core.runs("re")}) == 2

    core.upload("re", {"Annotations/img_00002.xml": files["Annotations/img_00003.xml"].replace(b"img_00003",
                                                                                               b"img_00002")})
    core.source.poll()
    assert core.tick("re", after_seconds=61).decision.action == "wait"  # a label fix alone waits…
    third = core.tick("re", after_seconds=601)  # …until the maximum wait
    assert third.decision.action == "flush" and "maximum wait" in third.decision.reason
    core.backend.join(third.job_name, timeout=60)


def test_a_window_that_closes_during_a_run_waits_for_it_then_coalesces(core):
    core.configure(local_trainer_command=trainer_command("import time; time.sleep(3)"))
    core.upload("busy", vott_export(4, seed=4))
    core.source.poll()
    first = core.tick("busy", after_seconds=61)
    core.upload("busy", vott_export(3, seed=5, start=10))
    core.source.poll()
    held = core.tick("busy", after_seconds=61)
    assert held.decision.action == "hold" and first.job_name in held.decision.reason
    core.upload("busy", vott_export(2, seed=6, start=20))
    core.source.poll()
    core.backend.join(first.job_name, timeout=60)
    second = core.tick("busy", after_seconds=61)
    assert second.decision.action == "flush"
    assert manifest_of(core, core.state("busy"))["counts"]["images"] == 9  # both later uploads, coalesced
    core.backend.join(second.job_name, timeout=60)


def test_the_daily_cap_holds_with_a_reason_the_status_endpoint_shows(core):
    core.configure(max_runs_per_day=1)
    core.upload("cap", vott_export(3, seed=7))
    core.source.poll()
    first = core.tick("cap", after_seconds=61)
    core.backend.join(first.job_name, timeout=60)
    core.upload("cap", vott_export(2, seed=8, start=5))
    core.source.poll()
    held = core.tick("cap", after_seconds=61)
    assert held.decision.action == "hold" and "daily cap of 1 runs" in held.decision.reason
    from tests.function_host import handler, http_request, json_body
    status = json_body(handler("status")(http_request("GET", "/api/status/cap", route_params={"project": "cap"})))
    assert status["pending"]["new_images"] == 2
    assert [r["status"] for r in status["runs"]] == ["Completed"]
    assert status["trained_dataset_version"] == status["runs"][0]["dataset_version"]


def test_a_failed_run_is_recorded_with_its_reason(core):
    core.configure(local_trainer_command=trainer_command("import sys; print(\"no GPU today\"); sys.exit(3)"))
    core.upload("fail", vott_export(3, seed=9))
    core.source.poll()
    outcome = core.tick("fail", after_seconds=61)
    core.backend.join(outcome.job_name, timeout=60)
    (run,) = core.runs("fail")
    assert run["status"] == "Failed" and "exited with 3" in run["reason"] and "no GPU today" in run["reason"]
    assert core.state("fail")["phase"] == "idle" and not core.state("fail").get("trained_version")


def test_racing_timer_instances_flush_once(core):
    core.upload("race", vott_export(6, seed=10))
    core.source.poll()
    outcomes, barrier = [], threading.Barrier(6)

    def tick():
        barrier.wait()
        outcomes.append(core.tick("race", after_seconds=61))

    threads = [threading.Thread(target=tick) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(jobs_claimed(core, "race")) == 1
    assert len(core.backend.started()) == 1
    assert len(core.runs("race")) == 1
    core.backend.join(core.backend.started()[0], timeout=60)


class Crash(Exception):
    """A process dying mid-flush."""


class CrashAfter:
    """Lets `budget[0]` writes through (shared by every wrapped port), then dies on the next one."""

    WRITES = {"write", "insert", "upsert", "update", "insert_many", "submit", "delete", "cancel"}

    def __init__(self, target, budget):
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


def test_a_crash_between_any_two_steps_of_the_flush_is_finished_by_the_next_tick_without_a_duplicate(core):
    core.upload("crash", vott_export(4, seed=11))
    core.source.poll()
    crashes = 0
    for allowed in range(0, 30):
        project = f"crash{allowed}"
        core.upload(project, vott_export(4, seed=11))
        core.source.poll()
        budget = [allowed]
        try:
            core.tick(project, after_seconds=61, blobs=CrashAfter(core.blobs, budget),
                      tables=CrashAfter(core.tables, budget), backend=CrashAfter(core.backend, budget))
            finished_without_crash = True
        except Crash:
            crashes += 1
            finished_without_crash = False
            core.tick(project, after_seconds=62)  # the next timer tick, healthy
        core.tick(project, after_seconds=63)  # and one more: must change nothing
        state = core.state(project)
        assert state["phase"] in ("submitted", "idle"), (allowed, state)
        assert len(jobs_claimed(core, project)) == 1, (allowed, "duplicate submission")
        (run,) = core.runs(project)
        assert run["job_name"] == state["job_name"]
        core.backend.join(state["job_name"], timeout=60)
        if finished_without_crash:
            break
    assert crashes >= 6, "the flush should have been interrupted at every one of its writes"
    assert len(core.backend.started()) == crashes + 1


def test_run_events_are_idempotent_and_foreign_runs_ignored(core):
    core.upload("idem", vott_export(3, seed=12))
    core.source.poll()
    outcome = core.tick("idem", after_seconds=61)
    core.backend.join(outcome.job_name, timeout=60)
    (run,) = core.runs("idem")
    assert run["status"] == "Completed"
    from shared.adapters.event_grid import run_ended_events, wire

    replay = [wire(e) for e in run_ended_events(
        topic="/ws", experiment_id="e", experiment_name="tfod-idem", run_id=outcome.job_name, status="Failed",
        tags={"tfod-retrain": "1", "project": "idem", "batch_id": outcome.batch_id})]
    core.deliver_run_events(replay)  # a late, contradictory redelivery changes nothing
    assert core.runs("idem")[0]["status"] == "Completed"
    core.deliver_run_events([wire(e) for e in run_ended_events(
        topic="/ws", experiment_id="e", experiment_name="other", run_id="x", status="Completed",
        tags={"owner": "someone else"})])
    with pytest.raises(NotFound):
        core.tables.get(core.settings.runs_table, "other", "x")


def run_with_metrics(core, project: str, seed: int, metrics: dict, **gates) -> tuple:
    """Train `project` with a stand-in trainer that 'writes' `metrics` (plus this dataset's version) before it
    exits, under the given gate settings; return the tick outcome and the run's row."""
    core.configure(local_trainer_command=trainer_command("import time; time.sleep(2)"), **gates)
    core.upload(project, vott_export(4, seed=seed))
    core.source.poll()
    outcome = core.tick(project, after_seconds=61)
    version = core.state(project)["dataset_version"]
    core.blobs.ensure_container(core.settings.models_container)
    core.blobs.write(core.settings.models_container, f"{project}/{outcome.batch_id}/model/metrics.json",
                     json.dumps(metrics | {"dataset_version": version}).encode())
    core.backend.join(outcome.job_name, timeout=60)
    (run,) = core.runs(project)
    return version, run


def test_a_completed_run_is_checked_against_the_gates_and_the_reasons_are_shown(core):
    _, run = run_with_metrics(core, "gated", 40, {"map": 0.12, "map_50": 0.4, "validation_images": 3,
                                                  "per_class_ap": {"circle": 0.5}},
                              gate_min_map=0.3, gate_min_validation_images=1)
    assert run["gates_passed"] is False and json.loads(run["gate_reasons"]) == ["map 0.120 is below 0.300"]
    assert (run["map"], run["map_50"]) == (0.12, 0.4)
    from tests.function_host import handler, http_request, json_body
    shown = json_body(handler("status")(http_request("GET", "/api/status/gated", route_params={"project": "gated"})))
    assert shown["runs"][0]["gate_reasons"] == ["map 0.120 is below 0.300"]
    assert shown["runs"][0]["gates_passed"] is False


def test_a_run_that_passes_its_gates_is_registered_pending_approval(core):
    version, run = run_with_metrics(core, "good", 41, {"map": 0.5, "map_50": 0.8, "validation_images": 3,
                                                       "per_class_ap": {}},
                                    gate_min_map=0.2, gate_min_validation_images=1)
    assert run["gates_passed"] is True and json.loads(run["gate_reasons"]) == []
    assert (run["model_name"], run["model_version"], run["model_state"]) == ("tfod-good", "1", "pending-approval")
    (registered,) = core.tables.query("modelregistry", "tfod-good")
    assert json.loads(registered["tags"])["dataset_version"] == version
