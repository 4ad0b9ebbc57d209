"""Timer: reconcile silent runs, run the debounce decision for every project and flush the ready ones, then look
for changes whose events never came in one project's folder."""

from __future__ import annotations

import logging

import azure.functions as func

from function_app.bootstrap import services

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("debounce_tick")
@bp.timer_trigger(arg_name="timer", schedule="%DEBOUNCE_SCHEDULE%", run_on_startup=False, use_monitor=True)
def debounce_tick(timer: func.TimerRequest) -> None:
    if timer.past_due:
        log.warning("debounce timer is past due")
    wired = services()
    now = wired.clock()
    wired.reconcile().reconcile_all(now)  # runs whose end was never delivered: ask the backend, after a while
    for outcome in wired.submit().tick_all(now):
        if outcome.decision.action not in ("wait",):
            log.info("project ticked", extra={"project": outcome.project, "action": outcome.decision.action,
                                              "reason": outcome.decision.reason, "batch_id": outcome.batch_id,
                                              "job_name": outcome.job_name, "note": outcome.note})
    wired.find_lost_changes().sweep_one(now)  # a folder not compared for SNAPSHOT_RELIST_HOURS: events never sent
