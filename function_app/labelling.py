"""The labelling loop: a daily timer (each live project's export for labelling and drift watch), an HTTP route
that exports on demand, and the route the team's Label Studio calls when an annotation is submitted, corrected or
deleted."""

from __future__ import annotations

import hmac
import logging

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, json_of, name_param
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


WEBHOOK_MAX_BYTES = 4 * 1024 * 1024  # one task with its annotation and the project's summary


@bp.function_name("label_studio_webhook")
@bp.route(route="labelling/{project}/label-studio", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def label_studio_webhook(req: func.HttpRequest) -> func.HttpResponse:
    """Anonymous to the Functions host (Label Studio cannot hold a function key it is never given): the shared
    secret it sends in X-Label-Studio-Secret is the credential, compared in constant time."""
    settings, tool = services().settings, services().labelling_tool()
    if tool is None:
        return json_response({"error": "no labelling tool is configured (LABEL_STUDIO_URL)"}, 404)
    given = req.headers.get("X-Label-Studio-Secret", "")
    if not hmac.compare_digest(given.encode(), (settings.label_studio_webhook_secret or "").encode()):
        log.warning("labelling webhook refused", extra={"reason": "wrong or missing secret"})
        return json_response({"error": "wrong or missing X-Label-Studio-Secret"}, 401)
    try:
        project = name_param(req, "project")
        payload = json_of(req, WEBHOOK_MAX_BYTES)
    except Refused as exc:
        return json_response({"error": exc.reason}, exc.status)
    try:
        return json_response(tool.receive(project, payload), 200)
    except ValueError as exc:
        return json_response({"error": str(exc)}, 400)
