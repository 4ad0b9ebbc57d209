"""Approval requests for registered models, and the decisions people make on them (single use, expiring).

A request posts a card to the approval channel whose button opens the approval page; the page shows the evidence
(`evidence`) and decides (`decide`). Who decided is the signed-in person when App Service authentication runs in
front of the app (then optionally checked against APPROVERS), otherwise the name typed, recorded as unverified.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.approval_page import Evidence
from shared.approval_tokens import ApprovalClaim, TokenError, issue, verify
from shared.clock import iso
from shared.pipeline.records import Records
from shared.ports import (
    ROW_ETAG,
    ApprovalNotice,
    BlobStore,
    DeploymentSpec,
    ModelRegistry,
    NotFound,
    Notifier,
    PreconditionFailed,
    TableStore,
)
from shared.settings import Settings
from shared.training import FLIPS_IMAGE, model_folder

log = logging.getLogger(__name__)

APPROVALS_TABLE = "approvals"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Approver:
    """Who decides: `verified` when the platform signed them in (then `id` is their Entra object id)."""

    name: str
    verified: bool = False
    id: str = ""


def token_id(token: str) -> str:
    """A short, one-way name for an approval token: enough to match a log line to a link, useless to approve."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


def allowed_approvers(settings: Settings, project: str) -> list[str] | None:
    """APPROVERS for this project (e-mails or object ids), else for "*"; None when no list applies."""
    if not settings.approvers:
        return None
    try:
        table = json.loads(settings.approvers)
    except ValueError:
        return []  # unreadable: nobody may approve until it is fixed (and the page says so)
    listed = table.get(project, table.get("*")) if isinstance(table, dict) else table
    return [str(x).lower() for x in listed] if isinstance(listed, list) else None


class Approve:
    """Approval requests, the evidence behind them, and decisions: an approval marks the model in the registry and
    starts its release."""

    def __init__(self, tables: TableStore, settings: Settings, blobs: BlobStore | None = None,
                 notifier: Notifier | None = None, registry: Callable[[], ModelRegistry] | None = None,
                 release: Callable[[], Any] | None = None) -> None:
        self.tables, self.settings, self.blobs, self.notifier = tables, settings, blobs, notifier
        self.registry, self.release = registry, release
        self.records = Records(tables, settings)

    def link(self, token: str, decision: str | None = None) -> str:
        """The approval page (both buttons); with `decision`, the JSON API's link for that one decision."""
        # tokens are URL-safe base64 and '.': nothing to quote
        return self.settings.public_url(f"/api/approvals?token={token}" + (f"&decision={decision}" if decision
                                                                            else ""))

    def request(self, model: str, version: str, project: str, batch_id: str, summary: str,
                facts: list[tuple[str, str]] | None = None, now: datetime | None = None) -> dict[str, str] | None:
        """Create the single approval request of a model version; None if one exists (a redelivery)."""
        now = now or datetime.now(UTC)
        token, claim = issue(self.settings.approval_secret or "", model, version,
                             ttl=timedelta(hours=self.settings.approval_ttl_hours), now=now)
        self.tables.ensure_table(APPROVALS_TABLE)
        try:
            self.tables.insert(APPROVALS_TABLE, {
                "PartitionKey": model, "RowKey": version, "nonce": claim.nonce, "expires": claim.expires,
                "state": "pending", "project": project, "batch_id": batch_id, "requested_at": iso(now)})
        except PreconditionFailed:
            return None
        links = self._links(token)
        # the links are bearer credentials: the line names the token by a short id, never the token itself
        log.warning("approval requested", extra={"model_name": model, "model_version": version,
                                                 "token_id": token_id(token)})
        if self.notifier:
            self.notifier.notify(ApprovalNotice(
                title=f"Release {model} version {version}?", summary=summary, link=links["page"],
                facts=[("Project", project), *(facts or []),
                       ("Link expires", f"{datetime.fromtimestamp(claim.expires, UTC):%Y-%m-%d %H:%M} UTC")]))
        self._shadow_first(DeploymentSpec(project, model, version, model_folder(project, batch_id)), batch_id, now)
        return links

    def _shadow_first(self, spec: DeploymentSpec, batch_id: str, now: datetime) -> None:
        """RELEASE_SHADOW_ORDER=shadow-then-approve: deploy and shadow while the decision waits (only when a model
        is live: the first release has no traffic to mirror, and waits for its approval as usual)."""
        if self.settings.release_shadow_order != "shadow-then-approve" or self.release is None:
            return
        release = self.release()
        if release.records.release(spec.project).live_model_version:
            release.start(spec, batch_id, now, approved=False)

    def _links(self, token: str) -> dict[str, str]:
        return {"page": self.link(token), "approve": self.link(token, "approve"), "reject": self.link(token, "reject")}

    def reissue(self, model: str, version: str, now: datetime | None = None) -> dict[str, str] | Answer:
        """New links for a pending request (the chat channel failed, the link was lost or leaked): the old link
        stops working, since only the newest nonce is accepted."""
        now = now or datetime.now(UTC)
        try:
            row = self.tables.get(APPROVALS_TABLE, model, version)
        except NotFound:
            return Answer(404, {"error": f"no approval request for {model} version {version}"})
        if row["state"] != "pending":
            return Answer(409, {"error": f"{model} version {version} was already {row['state']} by "
                                         f"{row.get('approver')} at {row.get('decided_at')}"})
        try:
            token, claim = issue(self.settings.approval_secret or "", model, version,
                                 ttl=timedelta(hours=self.settings.approval_ttl_hours), now=now)
        except TokenError as exc:
            return Answer(503, {"error": exc.reason})
        try:
            self.tables.update(APPROVALS_TABLE, row | {"nonce": claim.nonce, "expires": claim.expires},
                               row[ROW_ETAG])
        except PreconditionFailed:
            return Answer(409, {"error": "someone decided on this model version at the same moment"})
        log.warning("approval link re-issued", extra={"model_name": model, "model_version": version,
                                                      "project": row.get("project"), "batch_id": row.get("batch_id"),
                                                      "token_id": token_id(token)})
        return self._links(token) | {"expires": iso(datetime.fromtimestamp(claim.expires, UTC))}

    def _claim(self, token: str, now: datetime) -> ApprovalClaim | Answer:
        """The token's claim, or the 403/410 answer for a forged, malformed or expired one."""
        try:
            return verify(self.settings.approval_secret or "", token, now=now)
        except TokenError as exc:
            return Answer(410 if "expired" in exc.reason else 403, {"error": exc.reason})

    def _row(self, claim: ApprovalClaim) -> dict[str, Any] | Answer:
        try:
            row = self.tables.get(APPROVALS_TABLE, claim.model, claim.version)
        except NotFound:
            return Answer(404, {"error": f"no approval request for {claim.model} version {claim.version}"})
        if row["nonce"] != claim.nonce:
            return Answer(409, {"error": "this link is not the current one for this model version"})
        if row["state"] != "pending":
            return Answer(409, {"error": f"{claim.model} version {claim.version} was already {row['state']} by "
                                         f"{row.get('approver')} at {row.get('decided_at')}"})
        return row

    def preview(self, token: str, decision: str = "", now: datetime | None = None) -> Answer:
        """What a link is for, changing nothing (chat apps open links to preview them)."""
        claim = self._claim(token, now or datetime.now(UTC))
        if isinstance(claim, Answer):
            return claim
        row = self._row(claim)
        if isinstance(row, Answer):
            return row
        return Answer(200, {"model": claim.model, "version": claim.version, "decision": decision or None,
                            "project": row.get("project"), "batch_id": row.get("batch_id"),
                            "expires": claim.expires,
                            "how": "POST to this URL with {\"decision\": \"approve\"|\"reject\", \"approver\": …, "
                                   "\"comment\": …}"})

    def evidence(self, token: str, now: datetime | None = None) -> Evidence | Answer:
        """Everything the approval page shows, for a link that can still be used."""
        answer = self.preview(token, now=now)
        if answer.status != 200:
            return answer
        body = answer.body
        project, batch_id = body["project"] or "", body["batch_id"] or ""
        evidence = Evidence(body["model"], body["version"], project, batch_id, expires=body["expires"])
        run = self.records.run(project, batch_id)
        if run is not None:
            evidence.dataset_version = run.dataset_version or ""
            evidence.gates_passed = run.gates_passed
            evidence.gate_reasons = json.loads(run.gate_reasons or "[]")
        folder = model_folder(project, batch_id)
        evidence.metrics = self._json(f"{folder}/metrics.json") or {}
        evidence.examples = (self._json(f"{folder}/report.json") or {}).get("examples", [])
        evidence.grid_jpeg = self._bytes(f"{folder}/report_grid.jpg")
        evidence.flips_jpeg = self._bytes(f"{folder}/{FLIPS_IMAGE}")
        evidence.release = self._release_of(project, body["version"])
        return evidence

    def _release_of(self, project: str, version: str) -> dict[str, Any] | None:
        """The version's release when it went ahead of the decision (shadow-then-approve): phase and figures."""
        if self.release is None or not project:
            return None
        status = self.release().status(project) or {}
        release = status.get("release") or {}
        if release.get("model_version") != version:
            return None
        return {"phase": status["phase"], "shadow": status.get("shadow"),
                "percent": self.settings.release_shadow_percent}

    def report(self, token: str, now: datetime | None = None) -> bytes | Answer:
        """The run's full training report, for whoever holds a usable link to approve it."""
        answer = self.preview(token, now=now)
        if answer.status != 200:
            return answer
        html = self._bytes(f"{model_folder(answer.body['project'], answer.body['batch_id'])}/report.html")
        return html if html is not None else Answer(404, {"error": "this run has no training report"})

    def decide(self, token: str, decision: str, approver: Approver, comment: str,
               now: datetime | None = None) -> Answer:
        """Redeem a link once: 200 on success; 400/403/404/409/410 with the reason, changing nothing."""
        now = now or datetime.now(UTC)
        if decision not in ("approve", "reject"):
            return Answer(400, {"error": "decision must be 'approve' or 'reject'"})
        if not approver.name:
            return Answer(400, {"error": "say who decides (approver)"})
        claim = self._claim(token, now)
        if isinstance(claim, Answer):
            return claim
        row = self._row(claim)
        if isinstance(row, Answer):
            return row
        allowed = allowed_approvers(self.settings, row.get("project", ""))
        if allowed is not None and not (approver.verified and {approver.name.lower(), approver.id.lower()} & set(
                allowed)):
            who = approver.name if approver.verified else "an unverified name"
            return Answer(403, {"error": f"{who} may not decide on releases of {row.get('project')}: "
                                         "sign in as one of its approvers (APPROVERS)"})
        state = "approved" if decision == "approve" else "rejected"
        decided = row | {"state": state, "approver": approver.name, "approver_verified": approver.verified,
                         "approver_id": approver.id, "comment": comment, "decided_at": iso(now)}
        try:
            self.tables.update(APPROVALS_TABLE, decided, row[ROW_ETAG])
        except PreconditionFailed:
            return Answer(409, {"error": "someone decided on this model version at the same moment"})
        log.info("approval decided", extra={"model_name": claim.model, "model_version": claim.version,
                                            "project": row.get("project"), "batch_id": row.get("batch_id"),
                                            "state": state, "approver": approver.name,
                                            "approver_verified": approver.verified})
        if row.get("project") and row.get("batch_id"):
            self.records.record_run(row["project"], row["batch_id"], now, model_state=state, approver=approver.name,
                                    approver_verified=approver.verified, approval_comment=comment or None)
        body = {"model": claim.model, "version": claim.version, "state": state, "approver": approver.name,
                "approver_verified": approver.verified, "project": row.get("project"),
                "batch_id": row.get("batch_id")}
        return Answer(200, body | self._carry_out(body, now))

    def _carry_out(self, decided: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The registry learns the decision; an approved model's release starts (the timer takes it further)."""
        if self.registry is not None:
            self.registry().set_state(decided["model"], decided["version"], decided["state"])
        if self.release is None or not decided.get("project"):
            return {}
        if decided["state"] != "approved":
            withdrawn = self.release().withdraw(decided["project"], decided["version"],
                                                f"rejected by {decided['approver']}", now)
            return {"release": {"withdrawn": withdrawn}} if withdrawn else {}
        spec = DeploymentSpec(decided["project"], decided["model"], decided["version"],
                              model_folder(decided["project"], decided["batch_id"]))
        return {"release": self.release().start(spec, decided["batch_id"], now)}

    def _bytes(self, name: str) -> bytes | None:
        if self.blobs is None:
            return None
        try:
            return self.blobs.read(self.settings.models_container, name).data
        except NotFound:
            return None

    def _json(self, name: str) -> dict[str, Any] | None:
        data = self._bytes(name)
        try:
            return json.loads(data) if data else None
        except ValueError:
            return None
