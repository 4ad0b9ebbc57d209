"""Names shared by both endpoint adapters and the release path."""

from __future__ import annotations

from shared.naming import ENDPOINT, azure_name
from shared.settings import Settings

DEPLOYMENT_HEADER = "azureml-model-deployment"
"""Request header that pins a call to one deployment of an endpoint (and names it in the answer)."""


def endpoint_name(settings: Settings, project: str) -> str:
    """`<prefix>-<project>` when that fits Azure's rule (3 to 32 lowercase letters, digits and hyphens, starting
    with a letter); otherwise cleaned and cut, with a hash of the full name so long projects never share one."""
    return azure_name(f"{settings.endpoint_name_prefix}-{project}", ENDPOINT)


def scoring_environment(settings: Settings) -> dict[str, str]:
    """What score.py reads in every deployment, managed, Kubernetes or local: its batching and its runtime."""
    return {"SCORE_MAX_BATCH": str(settings.serving_max_batch),
            "SCORE_BATCH_WAIT_MS": f"{settings.serving_batch_wait_ms:g}", "SERVING_RUNTIME": settings.serving_runtime}
