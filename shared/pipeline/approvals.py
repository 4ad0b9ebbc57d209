"""Approval requests for registered models, and the decisions people make on them (single use, expiring)."""

from __future__ import annotations

import json
import logging
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from shared.approval import ApprovalClaim, TokenError, issue, verify
from shared.ledger import iso
from shared.pipeline.scheduler import record_run
from shared.ports import ROW_ETAG, NotFound, PreconditionFailed, TableStore
from shared.settings import Settings

log = logging.getLogger(__name__)

APPROVALS_TABLE = "approvals"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]


class ApprovalDesk:
    def __init__(self, tables: TableStore, settings: Settings) -> None:
        self.tables, self.settings = tables, settings

    def link(self, token: str, decision: str) -> str:
        host = self.settings.public_host or "127.0.0.1"
        scheme = "http" if host.startswith(("127.", "localhost")) else "https"
        return f"{scheme}://{host}/api/approvals?decision={decision}&token={quote(token)}"

    def request(self, model: str, version: str, project: str, batch_id: str, summary: str,
                now: datetime | None = None) -> dict[str, str] | None:
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
        links = {"approve": self.link(token, "approve"), "reject": self.link(token, "reject")}
        log.warning("approval requested", extra={"model_name": model, "model_version": version, **links})
        if self.settings.approval_webhook_url:
            self._notify(f"{summary}\nApprove: {links['approve']}\nReject: {links['reject']}")
        return links

    def _notify(self, text: str) -> None:
        """Teams and Slack incoming webhooks both take {"text": …}; a failed post is logged, not fatal."""
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(self.settings.approval_webhook_url, data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except OSError as exc:
            log.error("approval notification failed", extra={"error": str(exc)})

    def _claim(self, token: str, now: datetime) -> ApprovalClaim | Answer:
        """The token's claim, or the 403/410 answer for a forged, malformed or expired one."""
        try:
            return verify(self.settings.approval_secret or "", token, now=now)
        except TokenError as exc:
            return Answer(410 if "expired" in exc.reason else 403, {"error": exc.reason})

    def preview(self, token: str, decision: str, now: datetime | None = None) -> Answer:
        """What a link is for, changing nothing (chat apps open links to preview them)."""
        claim = self._claim(token, now or datetime.now(UTC))
        if isinstance(claim, Answer):
            return claim
        return Answer(200, {"model": claim.model, "version": claim.version, "decision": decision,
                            "how": "POST to this same URL with a JSON body {\"approver\": …, \"comment\": …}"})

    def decide(self, token: str, decision: str, approver: str, comment: str,
               now: datetime | None = None) -> Answer:
        """Redeem a link once: 200 on success; 400/403/404/409/410 with the reason, changing nothing."""
        now = now or datetime.now(UTC)
        if decision not in ("approve", "reject"):
            return Answer(400, {"error": "decision must be 'approve' or 'reject'"})
        if not approver:
            return Answer(400, {"error": "say who decides (approver)"})
        claim = self._claim(token, now)
        if isinstance(claim, Answer):
            return claim
        try:
            row = self.tables.get(APPROVALS_TABLE, claim.model, claim.version)
        except NotFound:
            return Answer(404, {"error": f"no approval request for {claim.model} version {claim.version}"})
        if row["state"] != "pending":
            return Answer(409, {"error": f"{claim.model} version {claim.version} was already {row['state']} by "
                                         f"{row.get('approver')} at {row.get('decided_at')}"})
        if row["nonce"] != claim.nonce:
            return Answer(409, {"error": "this link is not the current one for this model version"})
        state = "approved" if decision == "approve" else "rejected"
        decided = row | {"state": state, "approver": approver, "comment": comment, "decided_at": iso(now)}
        try:
            self.tables.update(APPROVALS_TABLE, decided, row[ROW_ETAG])
        except PreconditionFailed:
            return Answer(409, {"error": "someone decided on this model version at the same moment"})
        log.info("approval decided", extra={"model_name": claim.model, "model_version": claim.version,
                                            "state": state, "approver": approver})
        if row.get("project") and row.get("batch_id"):
            record_run(self.tables, self.settings.runs_table, row["project"], row["batch_id"], now,
                       {"model_state": state, "approver": approver, "approval_comment": comment or None})
        return Answer(200, {"model": claim.model, "version": claim.version, "state": state, "approver": approver,
                            "project": row.get("project"), "batch_id": row.get("batch_id")})
