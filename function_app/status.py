"""HTTP status endpoint: pending changes, the current window, recent runs and dataset versions.

Storage is read in a worker thread: when the account stalls, the caller gets 503 with the reason within
REQUEST_TIMEOUT_SECONDS instead of a hung request (the worker's own storage calls time out later).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late

import azure.functions as func
from azure.core.exceptions import AzureError

from function_app.bootstrap import services
from function_app.http_input import Refused, name_param
from function_app.responses import json_response

bp = func.Blueprint()
log = logging.getLogger(__name__)
_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="status")


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
    read = _readers.submit(lambda: view.project(project) if project else view.all(after, limit))
    wait = wired.settings.request_timeout_seconds
    try:
        body = read.result(timeout=wait)
    except Late:
        log.error("status: storage did not answer", extra={"seconds": wait})
        return json_response({"error": f"storage did not answer within {wait:g} s: try again shortly"}, 503)
    except AzureError as exc:
        log.error("status: storage failed", extra={"error": str(exc)[:300]})
        return json_response({"error": f"storage failed: {str(exc)[:300]}"}, 503)
    return json_response(body, indent=1)
