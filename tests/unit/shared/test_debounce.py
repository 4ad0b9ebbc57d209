from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import iso
from shared.debounce import Policy, decide
from shared.ledger import Pending
from shared.pipeline.records import ProjectState

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = Policy(quiet_seconds=60, max_wait_seconds=600, min_new_images=10, max_runs_per_day=3,
                max_gpu_hours_per_day=5)


def pending(images=20, changes=None, first_ago=100, last_ago=70) -> Pending:
    return Pending(changes if changes is not None else images, images, iso(NOW - timedelta(seconds=first_ago)),
                   iso(NOW - timedelta(seconds=last_ago)))


IDLE = ProjectState()


def action(p, state=IDLE, policy=POLICY):
    return decide(NOW, p, state, policy)


def test_waits_while_the_burst_goes_on_and_flushes_once_quiet():
    assert action(pending(last_ago=5)).action == "wait"
    assert "quiet for 5s of 60s" in action(pending(last_ago=5)).reason
    decision = action(pending(last_ago=61))
    assert decision.action == "flush" and "upload settled" in decision.reason


def test_a_steady_trickle_still_trains_after_the_maximum_wait():
    assert action(pending(first_ago=599, last_ago=1)).action == "wait"
    decision = action(pending(first_ago=601, last_ago=1))
    assert decision.action == "flush" and "maximum wait" in decision.reason


def test_too_few_new_images_wait_but_label_only_edits_train_when_overdue():
    assert action(pending(images=3, last_ago=500)).action == "wait"
    assert "3 new images, minimum 10" in action(pending(images=3, last_ago=500)).reason
    assert action(pending(images=0, changes=4, first_ago=700, last_ago=650)).action == "flush"
    assert action(pending(images=0, changes=4, first_ago=100, last_ago=90)).action == "wait"


def test_nothing_pending_waits_and_an_interrupted_flush_resumes():
    assert action(Pending()).action == "wait"
    assert action(Pending(), ProjectState(phase="flushing")).action == "resume"


def test_one_run_at_a_time_or_cancel_when_configured():
    busy = ProjectState(phase="submitted", active_job="tfod-p-1")
    decision = action(pending(), busy)
    assert decision.action == "hold" and "tfod-p-1 is still active" in decision.reason
    cancel = Policy(**{**POLICY.__dict__, "cancel_running_on_new_data": True})
    assert action(pending(), busy, cancel).action == "cancel_and_flush"


@pytest.mark.parametrize(("state", "words"), [
    (ProjectState(day="2026-11-25", runs_today=3), "daily cap of 3 runs"),
    (ProjectState(day="2026-11-25", gpu_hours_today=5.5), "daily cap of 5 GPU hours"),
])
def test_daily_caps_hold_with_a_clear_reason(state, words):
    decision = action(pending(), state)
    assert decision.action == "hold" and words in decision.reason


def test_caps_reset_on_a_new_day():
    assert action(pending(), ProjectState(day="2026-11-24", runs_today=3, gpu_hours_today=9)).action == "flush"


def test_a_run_lost_to_the_infrastructure_is_retried_after_its_backoff():
    waiting = ProjectState(attempt=2, retry_after=iso(NOW + timedelta(seconds=30)),
                           failure="trainer killed by signal 9 (SIGKILL)")
    decision = action(pending(), waiting)
    assert decision.action == "hold"
    assert "trainer killed by signal 9 (SIGKILL)" in decision.reason and "attempt 2 of 3" in decision.reason
    due = ProjectState(attempt=2, retry_after=iso(NOW - timedelta(seconds=1)), failure="lost")
    assert action(pending(), due).action == "flush"


def test_after_the_last_attempt_the_changes_wait_for_a_newer_upload():
    gave_up = ProjectState(attempt=4, given_up_at=iso(NOW - timedelta(seconds=70)), failure="lost")
    decision = action(pending(last_ago=70), gave_up)
    assert decision.action == "hold" and "gave up after 3 attempts (lost)" in decision.reason
    assert action(pending(last_ago=65), gave_up).action == "flush"  # a change newer than the lost batch
