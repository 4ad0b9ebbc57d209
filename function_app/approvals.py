"""HTTP: approve or reject a registered model with its signed, single-use, expiring link (plus the function key).

GET shows what the link is for and changes nothing (chat apps preview links); POST decides.
"""

from __future__ import annotations

import azure.functions as func

from function_app.bootstrap import services
from function_app.responses import json_response
from shared.pipeline.approvals import ApprovalDesk
from shared.ports import DeploymentSpec
from shared.training import model_folder

bp = func.Blueprint()


@bp.function_name("approvals")
@bp.route(route="approvals", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def approvals(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    desk = ApprovalDesk(wired.tables, wired.settings)
    token, decision = req.params.get("token", ""), req.params.get("decision", "")
    if req.method == "GET":
        answer = desk.preview(token, decision)
        return json_response(answer.body, answer.status)
    try:
        body = req.get_json() if req.get_body() else {}
    except ValueError:
        return json_response({"error": "body must be JSON: {\"approver\": …, \"comment\": …}"}, 400)
    answer = desk.decide(token, decision, str(body.get("approver", "")).strip(), str(body.get("comment", "")).strip())
    if answer.status == 200:
        wired.registry().set_state(answer.body["model"], answer.body["version"], answer.body["state"])
        if answer.body["state"] == "approved":
            spec = DeploymentSpec(answer.body["project"], answer.body["model"], answer.body["version"],
                                  model_folder(answer.body["project"], answer.body["batch_id"]))
            answer.body["release"] = wired.releases().start(spec, answer.body["batch_id"])
    return json_response(answer.body, answer.status)
