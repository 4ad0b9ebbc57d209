"""HTTP: the approval page and the decision, with the signed, single-use, expiring link as the only credential.

The route is anonymous: a link posted to a chat channel works where it is clicked, with no function key; what
protects it is the token (HMAC-signed, bound to one model version and one request, single use, expiring), and
refused links count against the client (10 a minute, then 429). GET shows the page (or, with `Accept:
application/json`, what the link is for) and never decides, since chat apps open links to preview them; POST
decides, from the page's form or from a JSON body. `&view=report` shows the run's full training report.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import parse_qsl, quote, urlsplit

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, body_of, json_of
from function_app.responses import json_response
from shared.approval_page import decision_page, outcome_page, refusal_page
from shared.pipeline.approve import Answer, Approver

bp = func.Blueprint()

MAX_BODY_BYTES = 16 * 1024
REFUSALS = {400, 403, 404, 409, 410}
OBJECT_ID = "http://schemas.microsoft.com/identity/claims/objectidentifier"


def client_of(req: func.HttpRequest) -> str:
    """The caller's address as the platform's front end reports it."""
    forwarded = req.headers.get("X-Forwarded-For") or req.headers.get("X-Client-IP") or "unknown"
    return forwarded.split(",")[0].strip()[:64]


def signed_in(req: func.HttpRequest) -> Approver | None:
    """The person App Service authentication (Entra ID) signed in, from `X-MS-CLIENT-PRINCIPAL`; the platform
    strips that header from callers' requests, so it can be trusted here."""
    raw = req.headers.get("X-MS-CLIENT-PRINCIPAL")
    if not raw:
        return None
    try:
        principal = json.loads(base64.b64decode(raw, validate=True))
        claims = {c["typ"]: c["val"] for c in principal.get("claims", [])}
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    name = (claims.get(principal.get("name_typ") or "") or claims.get("preferred_username") or claims.get("email")
            or req.headers.get("X-MS-CLIENT-PRINCIPAL-NAME") or "")
    object_id = claims.get(OBJECT_ID) or claims.get("oid") or req.headers.get("X-MS-CLIENT-PRINCIPAL-ID") or ""
    return Approver(name, verified=True, id=object_id) if name else None


def wants_json(req: func.HttpRequest) -> bool:
    content = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return "application/json" in (req.headers.get("Accept") or "") or content == "application/json"


def html(page: str, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(page, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                      "X-Frame-Options": "DENY",
                                      "Content-Security-Policy": "default-src 'none'; img-src data:; "
                                                                 "style-src 'unsafe-inline'; form-action 'self'"})


def refused(req: func.HttpRequest, answer: Answer) -> func.HttpResponse:
    if wants_json(req):
        return json_response(answer.body, answer.status)
    return html(refusal_page(answer.status, answer.body.get("error", "")), answer.status)


@bp.function_name("approvals")
@bp.route(route="approvals", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def approvals(req: func.HttpRequest) -> func.HttpResponse:
    wired = services()
    client, limit = client_of(req), wired.approval_failures()
    wait = limit.retry_after(client)
    if wait > 0:
        answer = refused(req, Answer(429, {"error": "too many refused approval links from here: try again later"}))
        answer.headers["Retry-After"] = str(int(wait) + 1)
        return answer
    desk = wired.approve()
    token = req.params.get("token", "")
    answer = _post(req, desk) if req.method == "POST" else _get(req, desk, token)
    if isinstance(answer, Answer) and answer.status in REFUSALS:
        limit.failed(client)
    return answer if isinstance(answer, func.HttpResponse) else refused(req, answer)


def _get(req: func.HttpRequest, desk, token: str) -> func.HttpResponse | Answer:
    if req.params.get("view") == "report":
        report = desk.report(token)
        return report if isinstance(report, Answer) else html(report.decode())
    if wants_json(req):
        answer = desk.preview(token, req.params.get("decision", ""))
        return json_response(answer.body) if answer.status == 200 else answer
    evidence = desk.evidence(token)
    if isinstance(evidence, Answer):
        return evidence
    person = signed_in(req)
    evidence.approver = person.name if person else None
    if not person and services().settings.auth_enabled:
        here = urlsplit(req.url)
        evidence.sign_in = f"/.auth/login/aad?post_login_redirect_uri={quote(f'{here.path}?{here.query}', safe='')}"
    return html(decision_page(evidence, req.params.get("decision", ""), report_link=f"{req.url}&view=report"))


def _post(req: func.HttpRequest, desk) -> func.HttpResponse | Answer:
    try:
        if wants_json(req):
            fields = json_of(req, MAX_BODY_BYTES, dict, empty={})
        else:
            fields = dict(parse_qsl(body_of(req, MAX_BODY_BYTES).decode("utf-8", errors="replace")))
    except Refused as exc:
        return Answer(exc.status, {"error": exc.reason})
    person = signed_in(req) or Approver(str(fields.get("approver", "")).strip()[:200])
    decision = str(fields.get("decision") or req.params.get("decision", ""))
    answer = desk.decide(req.params.get("token", ""), decision, person, str(fields.get("comment", "")).strip()[:2000])
    if answer.status != 200:
        return answer
    return json_response(answer.body) if wants_json(req) else html(outcome_page(answer.body))
