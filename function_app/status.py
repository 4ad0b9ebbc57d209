"""HTTP status endpoint: pending changes, the current window, recent runs and dataset versions."""

from __future__ import annotations

import azure.functions as func

from function_app.bootstrap import services
from function_app.responses import json_response
from shared.pipeline.status import all_status, project_status

bp = func.Blueprint()


@bp.function_name("status")
@bp.route(route="status/{project?}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def status(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    scheduler, releases = wired.scheduler(can_submit=False), wired.releases()
    project = req.route_params.get("project")
    body = project_status(scheduler, project, releases) if project else all_status(scheduler, releases)
    return json_response(body, indent=1)
