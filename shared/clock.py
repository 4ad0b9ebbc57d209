"""One spelling of time for everything the service stores: fixed-width UTC ISO 8601, so string order is time order
(Table filters and the ledger compare strings), and the UTC day the daily caps count in."""

from __future__ import annotations

from datetime import UTC, datetime

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(FORMAT)


def from_iso(value: str) -> datetime:
    """The moment an `iso()` string stands for."""
    return datetime.strptime(value, FORMAT).replace(tzinfo=UTC)


def normalized_time(value: str) -> str:
    """Azure writes 7 fractional digits, CloudEvents may carry an offset: one fixed-width UTC form for all."""
    moment = datetime.fromisoformat(value)
    return iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def day_of(moment: datetime) -> str:
    """The UTC day a daily budget counts in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")
