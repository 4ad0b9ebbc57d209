"""The smoke test's waits are bounded and say what they wait for; failures name the step and what was seen."""

from __future__ import annotations

import pytest

from local_mode.smoke import Smoke, SmokeFailure
from shared.ports import BlobInfo


class Blobs:
    def __init__(self):
        self.data: dict[tuple[str, str], bytes] = {}

    def ensure_container(self, container):
        pass

    def write(self, container, name, data, **kw):
        self.data[container, name] = data
        return "etag"

    def list(self, container, prefix=""):
        return iter([BlobInfo(n, "e", len(d)) for (c, n), d in sorted(self.data.items())
                     if c == container and n.startswith(prefix)])

    def delete(self, container, name):
        self.data.pop((container, name), None)


class Quiet:
    """A deployment where nothing happens: Event Grid never delivers."""

    datasets_container, transport = "datasets", None

    def __init__(self):
        self.blobs = Blobs()

    def status(self, project):
        return {"pending": {"changes": 0}, "runs": [], "window": {"phase": "idle", "next": "wait",
                                                                    "reason": "no changes"}, "endpoint": None}

    def remove_deployment(self, project, model_name):
        return [f"endpoint of {project}"]


def test_a_step_that_never_happens_fails_within_its_bound_naming_what_it_waited_for():
    lines: list[str] = []
    smoke = Smoke(Quiet(), project="smoke-t", images=3, timeouts={"events": 0.05}, say=lines.append,
                  sleep=lambda s: None)
    with pytest.raises(SmokeFailure, match=r"gave up after 0 s waiting for Event Grid to deliver the uploads.*"
                                           r"last seen: Event Grid → ledger: 0 of 7 images and annotations"):
        smoke.run()
    assert "[smoke] waiting (at most 0 s) for Event Grid to deliver the uploads to the blob_events webhook" in lines
    assert [s.name for s in smoke.steps] == ["upload"]


def test_cleanup_removes_exactly_what_the_smoke_test_uploaded():
    target = Quiet()
    target.blobs.write("datasets", "other/keep.jpg", b"x")
    smoke = Smoke(target, project="smoke-t", images=2, say=lambda _: None)
    uploaded = smoke.upload()
    removed = smoke.cleanup("tfod-smoke-t")
    assert sorted(removed[:-1]) == sorted(f"datasets/smoke-t/{name}" for name in uploaded)
    assert removed[-1] == "endpoint of smoke-t"
    assert list(target.blobs.data) == [("datasets", "other/keep.jpg")]


class Queued(Quiet):
    """Uploads recorded and a run submitted, which never leaves Queued (no GPU quota in the region)."""

    def __init__(self, reason):
        super().__init__()
        self.reason, self.asked = reason, []

    def status(self, project):
        files = len([n for (_, n) in self.blobs.data if n.startswith(project)])
        return {"pending": {"changes": files}, "window": {"phase": "submitted", "next": "wait", "reason": "running"},
                "runs": [{"batch_id": "b1", "job_name": "tfod-b1", "status": "Queued"}], "endpoint": None}

    def studio_link(self, job):
        return None

    def explain_queue(self, job):
        self.asked.append(job)
        return self.reason


def test_a_run_queued_for_want_of_quota_fails_at_once_with_the_numbers():
    from local_mode.smoke import QueueReason

    reason = QueueReason("0 of 0 vCPUs of NCASv3_T4 quota free in westeurope; Standard_NC4as_T4_v3 needs 4", True)
    target = Queued(reason)
    smoke = Smoke(target, project="smoke-q", images=3, queue_check=0, say=lambda _: None, sleep=lambda s: None)
    smoke.wait_for_events = lambda expected: None
    with pytest.raises(SmokeFailure, match=r"training run tfod-b1 cannot start: 0 of 0 vCPUs of NCASv3_T4 quota"):
        smoke.run()
    assert target.asked == ["tfod-b1"]  # asked once, long before the training bound (4 h)


def test_a_run_queued_while_the_cluster_scales_is_explained_once_and_waited_for():
    from local_mode.smoke import QueueReason

    lines: list[str] = []
    target = Queued(QueueReason("4 of 24 vCPUs free: the cluster is allocating a node", False))
    smoke = Smoke(target, project="smoke-q", images=3, queue_check=0, timeouts={"training": 0.05},
                  say=lines.append, sleep=lambda s: None)
    smoke.wait_for_events = lambda expected: None
    with pytest.raises(SmokeFailure, match="gave up after 0 s waiting for training run tfod-b1"):
        smoke.run()
    assert target.asked == ["tfod-b1"]
    assert ("[smoke]   run tfod-b1 is still waiting for machines: 4 of 24 vCPUs free: the cluster is allocating a "
            "node") in lines
