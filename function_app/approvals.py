"""HTTP: approve or reject a registered model with its signed, single-use, expiring link (plus the function key).

GET shows what the link is for and changes nothing (chat apps preview links); POST decides.
"""

from __future__ import annotations

import json

import azure.functions as func

from function_app.bootstrap import services
from shared.approval import TokenError, verify
from shared.pipeline.approvals import ApprovalDesk

bp = func.Blueprint()


def _json(body: dict, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@bp.function_name("approvals")
@bp.route(route="approvals", methods=["GET", "POST"], auth_level=func.AuthLevel.FUNCTION)
def approvals(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    token, decision = req.params.get("token", ""), req.params.get("decision", "")
    if req.method == "GET":
        try:
            claim = verify(wired.settings.approval_secret or "", token)
        except TokenError as exc:
            return _json({"error": exc.reason}, 410 if "expired" in exc.reason else 403)
        return _json({"model": claim.model, "version": claim.version, "decision": decision,
                      "how": "POST to this same URL with a JSON body {\"approver\": …, \"comment\": …} to decide"})
    try:
        body = req.get_json() if req.get_body() else {}
    except ValueError:
        return _json({"error": "body must be JSON: {\"approver\": …, \"comment\": …}"}, 400)
    answer = ApprovalDesk(wired.tables, wired.settings).decide(
        token, decision, str(body.get("approver", "")).strip(), str(body.get("comment", "")).strip())
    return _json(answer.body, answer.status)
