"""The debounce state machine: when a burst of uploads has settled enough to train, and whether it may.

Pure: it sees the time, what is pending and the project's state, and returns a decision with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from shared.clock import from_iso
from shared.ledger import Pending

if TYPE_CHECKING:
    from shared.pipeline.records import ProjectState

Action = Literal["wait", "flush", "resume", "hold", "cancel_and_flush"]


@dataclass(frozen=True)
class Policy:
    quiet_seconds: float = 120
    max_wait_seconds: float = 1800
    min_new_images: int = 1
    max_runs_per_day: int = 10
    max_gpu_hours_per_day: float = 24.0
    cancel_running_on_new_data: bool = False
    max_run_attempts: int = 3


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    hold: str = ""
    """Why a hold holds, as a stable word for logs and alerts: gave_up, retry_later, run_active, daily_runs,
    daily_gpu_hours."""


def _seconds(later: datetime, earlier_iso: str) -> float:
    return (later - from_iso(earlier_iso)).total_seconds()


def decide(now: datetime, pending: Pending, state: ProjectState, policy: Policy) -> Decision:
    if state.phase == "flushing":
        return Decision("resume", "a flush is under way (a dataset snapshot in slices, or interrupted): going on "
                                  "with it")
    if pending.changes == 0:
        return Decision("wait", "no changes since the last training")
    quiet_for = _seconds(now, pending.last)  # type: ignore[arg-type]
    waited = _seconds(now, pending.first)  # type: ignore[arg-type]
    quiet, overdue = quiet_for >= policy.quiet_seconds, waited >= policy.max_wait_seconds
    enough = pending.images >= policy.min_new_images
    labels_only = pending.images == 0
    if not ((enough and (quiet or overdue)) or (labels_only and overdue)):
        return Decision("wait", f"{pending.changes} changes ({pending.images} new images, minimum "
                                f"{policy.min_new_images}); quiet for {quiet_for:.0f}s of {policy.quiet_seconds:.0f}s; "
                                f"first change {waited:.0f}s ago (max wait {policy.max_wait_seconds:.0f}s)")
    why = ("maximum wait reached for label-only changes" if not enough else
           "upload settled" if quiet else "maximum wait reached")
    if state.given_up_at and pending.last <= state.given_up_at:  # type: ignore[operator]
        return Decision("hold", f"gave up after {state.attempt - 1} attempts ({state.failure}); these changes "
                                "train with the next upload", "gave_up")
    if state.retry_after and _seconds(now, state.retry_after) < 0:
        return Decision("hold", f"the last run failed ({state.failure}): attempt {state.attempt} of "
                                f"{policy.max_run_attempts} starts after {state.retry_after}", "retry_later")
    runs_today, gpu_hours = state.runs_on(now), state.gpu_hours_on(now)
    if state.phase == "submitted":
        if policy.cancel_running_on_new_data:
            return Decision("cancel_and_flush", f"{why}; cancelling run {state.active_job} for newer data")
        return Decision("hold", f"{why}, but run {state.active_job} is still active: "
                                "these changes train when it ends", "run_active")
    if runs_today >= policy.max_runs_per_day:
        return Decision("hold", f"{why}, but the daily cap of {policy.max_runs_per_day} runs is reached "
                                f"({runs_today} today)", "daily_runs")
    if gpu_hours >= policy.max_gpu_hours_per_day:
        return Decision("hold", f"{why}, but the daily cap of {policy.max_gpu_hours_per_day:g} GPU hours is "
                                f"reached ({gpu_hours:.1f} today)", "daily_gpu_hours")
    return Decision("flush", f"{why}: {pending.changes} changes, {pending.images} new images")
