"""Never stuck, never silently dropping work: runs lost to the infrastructure are retried with their changes, a
failure the trainer reports itself is not, and a run whose end was never delivered is reconciled."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from local_mode.demo_data import vott_export
from tests.integration.conftest import trainer_command

pytestmark = pytest.mark.azurite
KILLED = trainer_command("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
OK = trainer_command("import sys; sys.exit(0)")


def test_a_killed_trainer_gives_its_changes_back_and_the_batch_trains_on_the_next_attempt(core):
    core.configure(local_trainer_command=KILLED, retry_backoff_seconds=120, max_run_attempts=3)
    core.upload("lost", vott_export(4, seed=51))
    core.source.poll()
    first = core.tick("lost", after_seconds=61)
    core.backend.join(first.job_name, timeout=60)
    (run,) = core.runs("lost")
    assert run["status"] == "Failed" and run["failure"] == "infrastructure"
    assert run["reason"] == "trainer killed by signal 9 (SIGKILL)"
    state = core.state("lost")
    assert state["phase"] == "idle" and state["attempt"] == 2 and state["runs_today"] == 0  # the cap ignores it
    assert core.submit().pending("lost", state["cut"])[0].images == 4  # the changes are pending again

    held = core.tick("lost", after_seconds=61)
    assert held.decision.action == "hold"
    assert "trainer killed by signal 9 (SIGKILL)" in held.decision.reason and "attempt 2 of 3" in held.decision.reason
    core.configure(local_trainer_command=OK)
    second = core.tick("lost", after_seconds=200)  # after the backoff
    assert second.decision.action == "flush" and second.batch_id != first.batch_id
    core.backend.join(second.job_name, timeout=60)
    runs = {r["RowKey"]: r for r in core.runs("lost")}
    assert runs[second.batch_id]["status"] == "Completed" and runs[second.batch_id]["attempt"] == 2
    assert runs[second.batch_id]["new_images"] == 4
    assert core.state("lost")["attempt"] == 1 and core.state("lost")["runs_today"] == 1


def test_a_failure_the_trainer_reports_itself_is_not_retried(core, caplog):
    import sys

    caplog.set_level(logging.INFO, logger="shared")
    core.configure(local_trainer_command=f"{sys.executable} -m trainer_image.train", base_model="base-models/none")
    core.upload("broken", vott_export(3, seed=54))
    core.source.poll()
    outcome = core.tick("broken", after_seconds=61)
    core.backend.join(outcome.job_name, timeout=120)
    (run,) = core.runs("broken")
    assert run["status"] == "Failed" and run["failure"] == "code" and run["reason"].startswith("trainer failed:")
    [ended] = [r for r in caplog.records if r.getMessage() == "training run ended"]
    assert ended.levelname == "ERROR" and ended.failure == "code"
    assert '"message": "training failed"' in ended.trainer_last_lines[-1]  # the trainer's own last words
    state = core.state("broken")
    assert state["attempt"] == 1 and not state.get("retry_after")
    assert core.tick("broken", after_seconds=3600).decision.action == "wait"  # its changes were consumed


def test_a_run_whose_end_was_never_delivered_is_reconciled_and_a_late_event_changes_nothing(core):
    delivered = []

    def lost_in_transit(events):
        delivered.append(events)
        raise ConnectionError("Event Grid gave up")

    core.backend.on_events = lost_in_transit
    core.configure(local_trainer_command=OK, reconcile_after_seconds=600)
    core.upload("silent", vott_export(3, seed=55))
    core.source.poll()
    outcome = core.tick("silent", after_seconds=61)
    core.backend.join(outcome.job_name, timeout=60)
    assert core.state("silent")["phase"] == "submitted" and delivered
    reconciler = core.services.reconcile()
    assert reconciler.reconcile_all() == []  # too early to ask
    later = datetime.now(UTC) + timedelta(seconds=61 + 601)  # the flush was claimed 61 s "ahead"
    assert reconciler.reconcile_all(later) == [outcome.job_name]
    (run,) = core.runs("silent")
    assert run["status"] == "Completed" and core.state("silent")["phase"] == "idle"
    core.deliver_run_events(delivered[0])  # the original event arrives after all
    assert core.runs("silent")[0]["status"] == "Completed" and core.runs("silent")[0]["updated"] == run["updated"]
