"""HTTP: validate a project's dataset on demand and return the report (nothing is trained)."""

from __future__ import annotations

import logging

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, name_param
from function_app.responses import json_response
from shared import logs
from shared.dataset.service import DatasetBuilder

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("validate_dataset")
@bp.route(route="datasets/{project}/validate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def validate_dataset(req: func.HttpRequest) -> func.HttpResponse:
    try:
        project = name_param(req, "project")
    except Refused as exc:
        return json_response({"error": exc.reason}, exc.status)
    wired = services()
    with logs.correlation(project=project):
        builder = DatasetBuilder(wired.blobs, wired.settings, persist=False)
        build = builder.build(project)
        if build.manifest["counts"]["images"] == 0:
            return json_response(build.report.to_dict() | {"error": f"no usable images under {project}/"}, 404)
        if req.params.get("publish") == "true":
            builder.publish(build)
        log.info("dataset validated", extra={"dataset_version": build.report.dataset_version})
        return json_response(build.report.to_dict())
