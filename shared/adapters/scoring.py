"""The scoring call to an online endpoint (Azure's or the local twin), with its key, pinned to one deployment."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

from shared.serving import DEPLOYMENT_HEADER


def score_on_slot(uri: str, key: str, slot: str, body: bytes, content_type: str, *,
                  transport: Any = None, timeout: float = 60) -> tuple[int, bytes]:
    """POST `body` to the endpoint as a client would; (status, body) for every answer, error answers included.

    Goes through azure-core's pipeline, so tests can hand it the transport that stands in for Azure.
    """
    request = HttpRequest("POST", uri, content=body, headers={
        "Content-Type": content_type, "Authorization": f"Bearer {key}", DEPLOYMENT_HEADER: slot})
    try:
        with Pipeline(transport or RequestsTransport(), policies=[]) as pipeline:
            response = pipeline.run(request, connection_timeout=timeout, read_timeout=timeout).http_response
            response.read()
            return response.status_code, response.content
    except (ServiceRequestError, ServiceResponseError) as exc:
        return 503, f"endpoint unreachable: {exc}".encode()
