"""Webhook for Storage blob events from Event Grid: Event Grid schema or CloudEvents, single or batched."""

from __future__ import annotations

import logging

import azure.functions as func

from function_app.bootstrap import services
from function_app.responses import json_response as _json
from shared.adapters.event_grid import parse_delivery
from shared.events import EventSchemaError, validation_code

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("blob_events")
@bp.route(route="events/blobs", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.FUNCTION)
def blob_events(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "OPTIONS":  # CloudEvents webhook abuse-protection handshake
        origin = req.headers.get("WebHook-Request-Origin", "")
        return func.HttpResponse(status_code=200, headers={"WebHook-Allowed-Origin": origin or "*",
                                                           "WebHook-Allowed-Rate": "*"})
    try:
        envelopes = parse_delivery(req.get_body())
    except EventSchemaError as exc:
        log.warning("event delivery refused", extra={"error": str(exc)})
        return _json({"error": str(exc)}, 400)  # 400: Event Grid dead-letters instead of retrying
    for env in envelopes:
        code = validation_code(env)
        if code:
            log.info("event subscription validated", extra={"event_id": env.id, "topic": env.source})
            return _json({"validationResponse": code})
    try:
        result = services().ingestor().ingest(envelopes)
    except EventSchemaError as exc:
        log.warning("event delivery refused", extra={"error": str(exc)})
        return _json({"error": str(exc)}, 400)
    return _json(result.to_dict())
