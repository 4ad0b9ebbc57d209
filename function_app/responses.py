"""The HTTP functions' JSON answers."""

from __future__ import annotations

import json

import azure.functions as func


def json_response(body: dict, status: int = 200, *, indent: int | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, indent=indent), status_code=status, mimetype="application/json")
