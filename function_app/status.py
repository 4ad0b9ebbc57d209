"""HTTP status endpoint: pending changes, the current window, recent runs and dataset versions (read within
REQUEST_TIMEOUT_SECONDS, else 503 with the reason)."""

from __future__ import annotations

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, name_param
from function_app.responses import json_response
from function_app.slow_storage import Unavailable, read_within

bp = func.Blueprint()


@bp.function_name("status")
@bp.route(route="status/{project?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    view = wired.project_status()
    project = req.route_params.get("project")
    if project is not None:
        try:
            project = name_param(req, "project")
        except Refused as exc:
            return json_response({"error": exc.reason}, exc.status)
    try:
        limit = int(req.params.get("limit", "50"))
        if not 1 <= limit <= 200:
            raise ValueError
    except ValueError:
        return json_response({"error": "limit: a whole number from 1 to 200"}, 400)
    after = req.params.get("after", "")
    try:
        body = read_within(lambda: view.project(project) if project else view.all(after, limit),
                           wired.settings.request_timeout_seconds, "status")
    except Unavailable as exc:
        return json_response({"error": exc.reason}, 503)
    return json_response(body, indent=1)
