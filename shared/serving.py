"""Names shared by both endpoint adapters and the release path."""

from __future__ import annotations

from shared.settings import Settings

DEPLOYMENT_HEADER = "azureml-model-deployment"
"""Request header that pins a call to one deployment of an endpoint (and names it in the answer)."""


def endpoint_name(settings: Settings, project: str) -> str:
    """Azure's rule: 3 to 32 characters, letters, digits and hyphens, starting with a letter."""
    cleaned = "".join(c if c.isalnum() else "-" for c in f"{settings.endpoint_name_prefix}-{project}".lower())
    return cleaned.strip("-")[:32].rstrip("-")
