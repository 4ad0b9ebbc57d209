"""HTTP: a run's training report (HTML, stored next to its model), linked from the status endpoint."""

from __future__ import annotations

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, name_param
from function_app.responses import json_response
from shared.ports import NotFound
from shared.training import model_folder

bp = func.Blueprint()


@bp.function_name("reports")
@bp.route(route="reports/{project}/{batch_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def reports(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    try:
        project, batch_id = name_param(req, "project"), name_param(req, "batch_id")
    except Refused as exc:
        return json_response({"error": exc.reason}, exc.status)
    location = f"{model_folder(project, batch_id)}/report.html"
    try:
        html = wired.blobs.read(wired.settings.models_container, location).data
    except NotFound:
        return json_response({"error": f"no report at {wired.settings.models_container}/{location}"}, 404)
    return func.HttpResponse(html, status_code=200, mimetype="text/html", charset="utf-8")
