"""Timer: take the next step of every release in progress (provisioning checks, smoke test, traffic switch)."""

from __future__ import annotations

import azure.functions as func

from function_app.bootstrap import services

bp = func.Blueprint()


@bp.function_name("release_tick")
@bp.timer_trigger(arg_name="timer", schedule="%RELEASE_SCHEDULE%", run_on_startup=False, use_monitor=True)
def release_tick(timer: func.TimerRequest) -> None:
    wired = services()
    wired.release().advance_all(wired.clock())
