"""Azure Monitor's common alert schema → the chat channel's notice: an alert reaches the same people, in the same
channel, as an approval request (an action group's plain webhook cannot speak Teams' or Slack's format)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.ports import ApprovalNotice

PORTAL_ALERT = "https://portal.azure.com/#view/Microsoft_Azure_Monitoring_Alerts/AlertDetails.ReactView/alertId/"


class AlertSchemaError(ValueError):
    """Not an Azure Monitor common-alert-schema payload; the message names the field."""


def alert_notice(payload: Any) -> ApprovalNotice:
    """The alert rule, its state and severity, what it saw, and a link to the rows that fired it."""
    if not isinstance(payload, dict) or payload.get("schemaId") != "azureMonitorCommonAlertSchema":
        raise AlertSchemaError("schemaId: expected 'azureMonitorCommonAlertSchema' (turn on the common alert "
                               "schema in the action group's webhook receiver)")
    data = payload.get("data")
    essentials = data.get("essentials") if isinstance(data, dict) else None
    if not isinstance(essentials, dict) or not isinstance(essentials.get("alertRule"), str):
        raise AlertSchemaError("data.essentials.alertRule: missing or not a string")
    first = _first_condition(data.get("alertContext"))
    state = str(essentials.get("monitorCondition", "Fired"))
    facts = [("Severity", str(essentials.get("severity", ""))), ("State", state),
             ("Fired", str(essentials.get("firedDateTime", "")))]
    if first.get("metricValue") is not None:
        facts.append(("Seen", f"{first.get('metricValue')} ({first.get('operator', '')} {first.get('threshold', '')})"))
    link = first.get("linkToFilteredSearchResultsUI") or first.get("linkToSearchResultsUI") or (
        PORTAL_ALERT + quote(str(essentials.get("alertId", "")), safe=""))
    title = f"{'Resolved' if state == 'Resolved' else 'Alert'}: {essentials['alertRule']}"
    return ApprovalNotice(title=title, summary=str(essentials.get("description") or essentials["alertRule"]),
                          facts=facts, link=str(link), action="Open the log rows")


def _first_condition(context: Any) -> dict[str, Any]:
    """alertContext.condition.allOf[0] of a log or metric alert (what was seen, the link to its rows), or {}."""
    condition = context.get("condition") if isinstance(context, dict) else None
    conditions = condition.get("allOf") if isinstance(condition, dict) else None
    return conditions[0] if isinstance(conditions, list) and conditions and isinstance(conditions[0], dict) else {}
