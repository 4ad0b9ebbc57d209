"""What the HTTP functions accept: bounded bodies, shallow JSON of the expected type, folder-safe names.

Every refusal is a `Refused` with the status code and a reason the caller can act on; a handler answers it as
JSON, so no input (however hostile) ends a request without an answer.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from shared import safe_json
from shared.ledger import valid_project


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def body_of(req: func.HttpRequest, max_bytes: int) -> bytes:
    """The body, refused (413) before it is read when Content-Length already says it is too large."""
    declared = req.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Refused(413, f"body of {declared} bytes is over the limit of {max_bytes}")
    body = req.get_body()
    if len(body) > max_bytes:
        raise Refused(413, f"body of {len(body)} bytes is over the limit of {max_bytes}")
    return body


def json_of(req: func.HttpRequest, max_bytes: int, expect: type = dict, *, empty: Any = None) -> Any:
    """The body as JSON of type `expect` (`empty` when there is no body and that is allowed)."""
    body = body_of(req, max_bytes)
    if not body and empty is not None:
        return empty
    try:
        value = safe_json.loads(body)
    except ValueError as exc:
        raise Refused(400, str(exc)) from None
    if not isinstance(value, expect):
        raise Refused(400, f"body: expected a JSON {'object' if expect is dict else expect.__name__}")
    return value


def name_param(req: func.HttpRequest, name: str) -> str:
    """A project or batch id from the route, refused unless it can only ever be one folder."""
    value = req.route_params.get(name)
    if not valid_project(value):
        raise Refused(400, f"{name}: {value!r} is not a project folder name")
    return value
