"""The labelling loop: a daily timer (each live project's export for labelling and drift watch) and an HTTP route
that exports on demand."""

from __future__ import annotations

import logging

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, name_param
from function_app.responses import json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("labelling_tick")
@bp.timer_trigger(arg_name="timer", schedule="%LABELLING_SCHEDULE%", run_on_startup=False, use_monitor=True)
def labelling_tick(timer: func.TimerRequest) -> None:
    services().labelling().daily()


@bp.function_name("export_for_labelling")
@bp.route(route="labelling/{project}/export", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def export_for_labelling(req: func.HttpRequest) -> func.HttpResponse:
    try:
        project = name_param(req, "project")
    except Refused as exc:
        return json_response({"error": exc.reason}, exc.status)
    summary = services().labelling().export(project)
    return json_response(summary, 200 if "export_id" in summary else 404)
