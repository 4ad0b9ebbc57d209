"""Names shared by both endpoint adapters and the release path."""

from __future__ import annotations

import urllib.error
import urllib.request

from shared.settings import Settings

DEPLOYMENT_HEADER = "azureml-model-deployment"
"""Request header that pins a call to one deployment of an endpoint (and names it in the answer)."""


def endpoint_name(settings: Settings, project: str) -> str:
    """Azure's rule: 3 to 32 characters, letters, digits and hyphens, starting with a letter."""
    cleaned = "".join(c if c.isalnum() else "-" for c in f"{settings.endpoint_name_prefix}-{project}".lower())
    return cleaned.strip("-")[:32].rstrip("-")


def score_on_slot(uri: str, key: str, slot: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    """POST to an endpoint with its key, pinned to one deployment; (status, body) even for error answers."""
    request = urllib.request.Request(uri, data=body, method="POST", headers={
        "Content-Type": content_type, "Authorization": f"Bearer {key}", DEPLOYMENT_HEADER: slot})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
