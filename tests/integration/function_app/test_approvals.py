"""The approval webhook, called as the host calls it: single-use, expiring, signed links; clear 4xx otherwise."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from shared.approval_tokens import issue
from shared.pipeline.approve import Approve
from shared.registry import ModelCandidate
from tests.function_host import handler, http_request, json_body


class Inbox(BaseHTTPRequestHandler):
    """A chat incoming webhook on 127.0.0.1: keeps what was posted."""

    received: list = []

    def do_POST(self):
        Inbox.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def inbox():
    server = HTTPServer(("127.0.0.1", 0), Inbox)
    Inbox.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


class RegisteringDesk(Approve):
    """Every approval request belongs to a registered model version, as after a passing run."""

    def __init__(self, core):
        super().__init__(core.tables, core.settings, core.blobs, core.services.notifier())
        self.core = core

    def request(self, model, version, project, batch_id, summary, facts=None, now=None):
        registry = self.core.services.registry()
        for n in range(int(version)):  # versions 1…version, the last one this batch's
            registry.register(ModelCandidate(project=project, run_id=f"{batch_id}-{n}", batch_id=batch_id,
                                             dataset_version="v1", base_model="base",
                                             model_folder=f"{project}/{batch_id}/model", metrics={}))
        return super().request(model, version, project, batch_id, summary, facts, now)


@pytest.fixture
def desk(core, inbox):
    core.configure(approval_secret="test-secret", approval_webhook_url=inbox)
    return RegisteringDesk(core)


JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def call(url: str, method: str = "POST", body: dict | None = None, headers: dict | None = None):
    """The JSON API a script uses (the page is for people: tests/e2e/test_approval_page.py)."""
    query = {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
    return handler("approvals")(http_request(method, "/api/approvals", params=query,
                                             headers=JSON if headers is None else headers,
                                             body=json.dumps(body).encode() if body else b""))


def test_request_is_posted_to_the_chat_and_approving_once_works(core, desk):
    links = desk.request("tfod-shapes", "3", "shapes", "shapes-1", "tfod-shapes version 3 passed its gates",
                         facts=[("mAP@0.5", "0.912")])
    (message,) = Inbox.received  # a Teams Adaptive Card whose button opens the approval page
    card = message["attachments"][0]["content"]
    assert message["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open approval page", "url": links["page"]}]
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["mAP@0.5"] == "0.912" and facts["Project"] == "shapes" and "Link expires" in facts
    assert desk.request("tfod-shapes", "3", "shapes", "shapes-1", "again") is None  # one request per version

    preview = call(links["approve"], "GET")  # a chat app unfurling the link changes nothing
    assert preview.status_code == 200 and json_body(preview)["version"] == "3"
    approved = call(links["approve"], body={"approver": "ada@example.com", "comment": "looks right"})
    assert approved.status_code == 200 and json_body(approved)["state"] == "approved"
    replay = call(links["approve"], body={"approver": "eve@example.com"})
    assert replay.status_code == 409 and "already approved by ada@example.com" in json_body(replay)["error"]
    rejected_late = call(links["reject"], body={"approver": "bob@example.com"})
    assert rejected_late.status_code == 409


def test_reject_is_recorded_with_who_and_why(core, desk):
    links = desk.request("tfod-shapes", "4", "shapes", "shapes-2", "v4")
    answer = call(links["reject"], body={"approver": "bob@example.com", "comment": "misses small objects"})
    assert answer.status_code == 200 and json_body(answer)["state"] == "rejected"
    (run,) = core.runs("shapes")
    assert (run["model_state"], run["approver"], run["approval_comment"]) == (
        "rejected", "bob@example.com", "misses small objects")


@pytest.mark.parametrize(("make", "status", "words"), [
    (lambda s: issue("test-secret", "tfod-shapes", "5", ttl=timedelta(hours=1),
                     now=datetime.now(UTC) - timedelta(hours=2))[0], 410, "expired"),
    (lambda s: issue("someone-else", "tfod-shapes", "5", ttl=timedelta(hours=1))[0], 403, "signature"),
    (lambda s: "garbage", 403, "malformed"),
    (lambda s: issue("test-secret", "tfod-unknown", "1", ttl=timedelta(hours=1))[0], 404, "no approval request"),
])
def test_expired_forged_malformed_and_unknown_links_are_refused(core, desk, make, status, words):
    desk.request("tfod-shapes", "5", "shapes", "shapes-3", "v5")
    answer = handler("approvals")(http_request("POST", "/api/approvals", params={"token": make(None),
                                  "decision": "approve"}, body=json.dumps({"approver": "x"}).encode(), headers=JSON))
    assert answer.status_code == status and words in json_body(answer)["error"]
    page = handler("approvals")(http_request("GET", "/api/approvals", params={"token": make(None)}))
    assert page.status_code == status and words in page.get_body().decode()  # a person sees a page that says why
    assert page.mimetype == "text/html"


def test_a_second_link_for_the_same_version_cannot_be_used(core, desk):
    desk.request("tfod-shapes", "6", "shapes", "shapes-4", "v6")
    other, _ = issue("test-secret", "tfod-shapes", "6", ttl=timedelta(hours=1))  # validly signed, wrong nonce
    answer = call(f"http://x/api/approvals?decision=approve&token={other}", body={"approver": "x"})
    assert answer.status_code == 409 and "not the current one" in json_body(answer)["error"]


def test_missing_approver_or_bad_decision_is_400(core, desk):
    links = desk.request("tfod-shapes", "7", "shapes", "shapes-5", "v7")
    assert call(links["approve"], body={}).status_code == 400
    maybe = links["approve"].replace("decision=approve", "decision=maybe")
    assert call(maybe, body={"approver": "x"}).status_code == 400


def principal(name: str, object_id: str = "00000000-0000-0000-0000-00000000abcd") -> str:
    """X-MS-CLIENT-PRINCIPAL as App Service authentication (Entra ID) sets it."""
    import base64

    return base64.b64encode(json.dumps({"auth_typ": "aad", "name_typ": "preferred_username", "claims": [
        {"typ": "preferred_username", "val": name},
        {"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": object_id}]}).encode()).decode()


def test_the_page_shows_the_evidence_and_a_form_post_decides_and_answers_with_a_page(core, desk):
    links = desk.request("tfod-shapes", "8", "shapes", "shapes-6", "v8")
    page = call(links["page"], "GET", headers={})
    html = page.get_body().decode()
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Release tfod-shapes version 8?" in html and 'name="decision" value="approve"' in html
    assert "Recorded as given (not verified)" in html and "expires" in html
    form = handler("approvals")(http_request(
        "POST", "/api/approvals", params={"token": links["page"].split("token=")[1]},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"approver=Ana+Lima&comment=ship+it&decision=reject"))
    assert form.status_code == 200 and "Rejected by <b>Ana Lima</b>" in form.get_body().decode()
    again = call(links["page"], "GET", headers={})
    assert again.status_code == 409 and "already rejected by Ana Lima" in again.get_body().decode()


def test_the_signed_in_person_is_the_approver_and_is_checked_against_the_allow_list(core, desk):
    core.configure(approvers=json.dumps({"shapes": ["ana@contoso.com"], "*": ["boss@contoso.com"]}))
    links = desk.request("tfod-shapes", "9", "shapes", "shapes-7", "v9")
    typed = call(links["approve"], body={"approver": "ana@contoso.com"})  # a typed name is not a sign-in
    assert typed.status_code == 403 and "unverified" in json_body(typed)["error"]
    stranger = call(links["approve"], body={}, headers=JSON | {"X-MS-CLIENT-PRINCIPAL": principal("eve@contoso.com")})
    assert stranger.status_code == 403 and "eve@contoso.com may not decide" in json_body(stranger)["error"]
    ana = call(links["approve"], body={"approver": "someone typed this"},
               headers=JSON | {"X-MS-CLIENT-PRINCIPAL": principal("Ana@Contoso.com")})
    assert ana.status_code == 200 and json_body(ana)["approver"] == "Ana@Contoso.com"
    (run,) = core.runs("shapes")
    assert run["approver"] == "Ana@Contoso.com" and run["approver_verified"] is True


def test_without_an_allow_list_a_typed_name_is_recorded_as_unverified(core, desk):
    links = desk.request("tfod-shapes", "10", "shapes", "shapes-8", "v10")
    assert call(links["reject"], body={"approver": "Bo"}).status_code == 200
    (run,) = core.runs("shapes")
    assert run["approver"] == "Bo" and run["approver_verified"] is False
