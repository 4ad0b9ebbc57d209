from datetime import UTC, datetime, timedelta

import pytest

from shared.approval_tokens import TokenError, issue, verify

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_token_carries_its_model_version_and_expiry():
    token, claim = issue("s3cret", "shapes", "7", ttl=timedelta(hours=24), now=NOW)
    assert verify("s3cret", token, now=NOW + timedelta(hours=23)) == claim
    assert (claim.model, claim.version) == ("shapes", "7")
    other, _ = issue("s3cret", "shapes", "7", ttl=timedelta(hours=24), now=NOW)
    assert other != token  # each request has its own nonce


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda t: t, "has expired"),
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature is not valid"),
    (lambda t: "x" + t, "signature is not valid"),
    (lambda t: t.split(".")[0], "malformed"),
])
def test_expired_forged_and_malformed_tokens_are_refused(mutate, reason):
    token, _ = issue("s3cret", "shapes", "7", ttl=timedelta(hours=1), now=NOW)
    when = NOW + timedelta(hours=2) if reason == "has expired" else NOW
    with pytest.raises(TokenError, match=reason):
        verify("s3cret", mutate(token), now=when)


def test_a_token_signed_with_another_secret_is_refused():
    token, _ = issue("other", "shapes", "7", ttl=timedelta(hours=1), now=NOW)
    with pytest.raises(TokenError, match="signature"):
        verify("s3cret", token, now=NOW)
    with pytest.raises(TokenError, match="APPROVAL_SECRET"):
        issue("", "shapes", "7", ttl=timedelta(hours=1))
