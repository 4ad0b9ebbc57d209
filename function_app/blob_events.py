"""Webhook for Storage blob events from Event Grid: Event Grid schema or CloudEvents, single or batched.

Deliveries are bounded as Event Grid bounds them (1 MiB, 5,000 events); anything unreadable is refused with 400
and anything oversized with 413, both of which Event Grid dead-letters instead of retrying.
"""

from __future__ import annotations

import logging
import re

import azure.functions as func

from function_app.bootstrap import services
from function_app.http_input import Refused, body_of
from function_app.responses import json_response as _json
from shared.adapters.event_grid import TooManyEvents, parse_delivery
from shared.events import EventSchemaError, validation_code

bp = func.Blueprint()
log = logging.getLogger(__name__)

MAX_DELIVERY_BYTES = 1024 * 1024
"""Event Grid's largest delivery (preferredBatchSizeInKilobytes is at most 1,024)."""
MAX_EVENTS = 5000
"""Event Grid's largest batch."""
_VALIDATION_CODE = re.compile(r"[A-Za-z0-9-]{1,128}")


@bp.function_name("blob_events")
@bp.route(route="events/blobs", methods=["POST", "OPTIONS"], auth_level=func.AuthLevel.FUNCTION)
def blob_events(req: func.HttpRequest) -> func.HttpResponse:
    if req.method == "OPTIONS":  # CloudEvents webhook abuse-protection handshake
        origin = req.headers.get("WebHook-Request-Origin", "")
        return func.HttpResponse(status_code=200, headers={"WebHook-Allowed-Origin": origin or "*",
                                                           "WebHook-Allowed-Rate": "*"})
    try:
        envelopes = parse_delivery(body_of(req, MAX_DELIVERY_BYTES), max_events=MAX_EVENTS)
        codes = [validation_code(env) for env in envelopes]
        validation = next((code for code in codes if code is not None), None)
        if validation is not None and not (isinstance(validation, str) and _VALIDATION_CODE.fullmatch(validation)):
            raise Refused(400, "data.validationCode: not a validation code")
        others = [env for env, code in zip(envelopes, codes, strict=True) if code is None]
        result = services().ingest().ingest(others).to_dict() if others else {}
    except (EventSchemaError, Refused) as exc:
        status = exc.status if isinstance(exc, Refused) else 413 if isinstance(exc, TooManyEvents) else 400
        log.warning("event delivery refused", extra={"error": str(exc)[:500], "status": status})
        return _json({"error": str(exc)[:1000]}, status)
    if validation is not None:
        log.info("event subscription validated", extra={"event_id": envelopes[codes.index(validation)].id})
        return _json({"validationResponse": validation} | result)
    return _json(result)
