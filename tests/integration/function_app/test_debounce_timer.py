"""The timer function, invoked with the TimerRequest the worker builds, flushes a project whose upload settled."""

from azure.functions.timer import TimerRequest

from local_mode.demo_data import vott_export
from tests.function_host import handler


def test_the_timer_flushes_a_settled_upload_once(core):
    core.configure(quiet_seconds=0)
    core.upload("timed", vott_export(3, seed=31))
    core.source.poll()
    tick = handler("debounce_tick")
    tick(TimerRequest(past_due=True))
    state = core.state("timed")
    assert state["phase"] in ("submitted", "idle") and state["job_name"]
    tick(TimerRequest(past_due=False))
    assert core.backend.started() == [state["job_name"]]
    core.backend.join(state["job_name"], timeout=60)
