"""Approval requests posted to a chat channel's incoming webhook: a Teams Adaptive Card, or Slack Block Kit when
the URL is a Slack webhook; the key figures, the gate verdict and an "Open approval page" button."""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from shared.ports import ApprovalNotice

log = logging.getLogger(__name__)


def is_slack(url: str) -> bool:
    return (urlsplit(url).hostname or "").endswith("hooks.slack.com")


def teams_card(notice: ApprovalNotice) -> dict[str, Any]:
    """An Adaptive Card (1.4) in the message envelope Teams incoming webhooks (and Workflows) take."""
    card = {
        "type": "AdaptiveCard", "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "version": "1.4",
        "body": [
            {"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": True, "text": notice.title},
            {"type": "TextBlock", "wrap": True, "text": notice.summary},
            {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in notice.facts]},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": notice.action, "url": notice.link}],
    }
    return {"type": "message", "text": notice.title, "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def slack_blocks(notice: ApprovalNotice) -> dict[str, Any]:
    """A Block Kit message for a Slack incoming webhook (`text` is the notification's fallback)."""
    return {"text": f"{notice.title}: {notice.link}", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": notice.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": notice.summary}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"}
                                       for name, value in notice.facts[:10]]},
        {"type": "actions", "elements": [{"type": "button", "style": "primary", "url": notice.link,
                                          "text": {"type": "plain_text", "text": notice.action}}]},
    ]}


class WebhookNotifier:
    """Posts to one incoming-webhook URL; a failed post is logged, never fatal (the link is also logged)."""

    def __init__(self, url: str, timeout: float = 10) -> None:
        self.url, self.timeout = url, timeout

    def payload(self, notice: ApprovalNotice) -> dict[str, Any]:
        return slack_blocks(notice) if is_slack(self.url) else teams_card(notice)

    def notify(self, notice: ApprovalNotice) -> None:
        request = urllib.request.Request(self.url, data=json.dumps(self.payload(notice)).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except OSError as exc:
            log.error("approval notification failed", extra={"error": str(exc)})
