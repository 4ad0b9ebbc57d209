"""The event core end to end on Azurite: events through the real handlers, the timer's decision, the flush,
the local trainer twin and its completion events."""

from __future__ import annotations

import json
import random
import threading

from local_mode.demo_data import vott_export
from shared.dataset.manifest import iter_entries, load_manifest
from tests.integration.conftest import trainer_command


def manifest_of(core, state) -> dict:
    return load_manifest(core.blobs.read(core.settings.manifests_container, state["manifest"]).data)


def entries_of(core, state) -> list[dict]:
    folder = state["manifest"].rpartition("/")[0]
    return list(iter_entries(manifest_of(core, state), lambda rel: core.blobs.read(
        core.settings.manifests_container, f"{folder}/{rel}").data))


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
    names = [i["image"]["name"] for i in entries_of(core, state)]
    assert gone not in names and len(names) == 5
    core.backend.join(state["active_job"], timeout=60)
    assert core.source.poll() == 1  # the BlobDeleted event
    pending = core.submit().pending("del", core.state("del")["cut"])[0]
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
