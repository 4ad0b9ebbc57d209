"""Approval tokens: signed (HMAC-SHA256 with a secret from configuration), expiring, bound to one model
version and one decision request. Single use is enforced by whoever redeems them (it records the nonce)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


class TokenError(ValueError):
    """The token cannot be honoured; `reason` is safe to show the person who clicked the link."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ApprovalClaim:
    model: str
    version: str
    nonce: str
    expires: int

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(
    secret: str, model: str, version: str, *, ttl: timedelta, now: datetime | None = None
) -> tuple[str, ApprovalClaim]:
    """A new token for one model version, valid for `ttl`."""
    if not secret:
        raise TokenError("no approval secret is configured (APPROVAL_SECRET)")
    now = now or datetime.now(UTC)
    claim = ApprovalClaim(model, version, secrets.token_urlsafe(16), int((now + ttl).timestamp()))
    body = _b64(json.dumps(claim.__dict__, sort_keys=True, separators=(",", ":")).encode())
    signature = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{signature}", claim


def verify(secret: str, token: str, *, now: datetime | None = None) -> ApprovalClaim:
    """The claim in a token whose signature and expiry hold; TokenError otherwise."""
    body, dot, signature = token.partition(".")
    if not dot or not body or not signature:
        raise TokenError("malformed approval token")
    expected = _b64(hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise TokenError("approval token signature is not valid")
    try:
        claim = ApprovalClaim(**json.loads(_unb64(body)))
    except (ValueError, TypeError):
        raise TokenError("malformed approval token") from None
    if claim.expired(now or datetime.now(UTC)):
        raise TokenError("approval token has expired")
    return claim
