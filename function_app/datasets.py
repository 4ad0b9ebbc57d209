"""HTTP: validate a project's dataset on demand and return the report (nothing is trained)."""

from __future__ import annotations

import json
import logging

import azure.functions as func

from function_app.bootstrap import services
from shared import logs
from shared.dataset.service import DatasetBuilder

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("validate_dataset")
@bp.route(route="datasets/{project}/validate", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def validate_dataset(req: func.HttpRequest) -> func.HttpResponse:
    project = req.route_params["project"]
    wired = services()
    with logs.correlation(project=project):
        build = DatasetBuilder(wired.blobs, wired.settings).build(project)
        if build.manifest["counts"]["images"] == 0:
            body = build.report.to_dict() | {"error": f"no usable images under {project}/"}
            return func.HttpResponse(json.dumps(body), status_code=404, mimetype="application/json")
        if req.params.get("publish") == "true":
            DatasetBuilder(wired.blobs, wired.settings).publish(build)
        log.info("dataset validated", extra={"dataset_version": build.report.dataset_version})
        return func.HttpResponse(json.dumps(build.report.to_dict()), mimetype="application/json")
