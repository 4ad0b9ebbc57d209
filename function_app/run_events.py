"""Azure ML run events (RunCompleted / RunStatusChanged) from Event Grid → the run's record and state."""

from __future__ import annotations

import logging

import azure.functions as func

from function_app.bootstrap import services
from shared.events import Envelope, run_event

bp = func.Blueprint()
log = logging.getLogger(__name__)


def envelope_of(event: func.EventGridEvent) -> Envelope:
    return Envelope(event.id, event.event_type, event.topic or "", event.subject or "",
                    event.event_time.isoformat() if event.event_time else "", event.get_json() or {})


@bp.function_name("run_events")
@bp.event_grid_trigger(arg_name="event")
def run_events(event: func.EventGridEvent) -> None:
    parsed = run_event(envelope_of(event))
    if parsed is None:
        log.info("event ignored: not a run event", extra={"event_id": event.id, "type": event.event_type})
        return
    services().complete_run().handle(parsed)
