"""Operations: the dead-letter timer (undelivered events reported and replayed) and the alert route that relays
Azure Monitor alerts to the approval channel."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from function_app.bootstrap import services
from function_app.responses import json_response
from shared.alerts import AlertSchemaError, alert_notice

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("dead_letter_tick")
@bp.timer_trigger(arg_name="timer", schedule="%DEAD_LETTER_SCHEDULE%", run_on_startup=False, use_monitor=True)
def dead_letter_tick(timer: func.TimerRequest) -> None:
    services().dead_letters().report()


@bp.function_name("relay_alert")
@bp.route(route="alerts", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def relay_alert(req: func.HttpRequest) -> func.HttpResponse:
    try:
        notice = alert_notice(json.loads(req.get_body() or b"null"))
    except (ValueError, AlertSchemaError) as exc:
        return json_response({"error": str(exc)[:300]}, 400)
    notifier = services().notifier()
    log.warning("alert relayed", extra={"alert_rule": notice.title, "channel": bool(notifier)})
    if notifier is not None:
        notifier.notify(notice)
    return json_response({"relayed": notifier is not None, "title": notice.title}, 200)
