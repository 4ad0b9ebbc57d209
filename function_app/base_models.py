"""HTTP: add a model-zoo archive as a base model from an HTTPS URL, and list the base models."""

from __future__ import annotations

import logging

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, json_of
from function_app.responses import json_response
from shared.adapters.archive_download import fetch
from shared.base_models import ArchiveError, ArchiveLimits
from shared.pipeline.base_models import BaseModels

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("base_models")
@bp.route(route="base-models", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def base_models(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    models = BaseModels(wired.blobs, wired.settings)
    if req.method == "GET":
        return json_response({"base_models": models.list()})
    try:
        body = json_of(req, 16 * 1024)
    except Refused as exc:
        return json_response({"error": exc.reason}, exc.status)
    url, name = body.get("url"), body.get("name")
    if not isinstance(url, str) or (name is not None and not isinstance(name, str)):
        return json_response({"error": "POST {\"url\": \"https://…/<model>.tar.gz\", \"name\": optional}"}, 400)
    try:
        added = models.add(fetch(url, ArchiveLimits().max_bytes), url, name)
    except ArchiveError as exc:
        log.warning("base model refused", extra={"source": url, "error": str(exc)})
        return json_response({"error": str(exc)}, 400)
    return json_response(added, 201 if added["added"] else 200)
