"""An azure-core HTTP transport that hands each request to an in-process service instead of the network."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline.transport import HttpTransport
from azure.core.pipeline.transport._requests_basic import RequestsTransportResponse
from azure.core.rest import HttpRequest as RestRequest
from azure.core.rest._requests_basic import RestRequestsTransportResponse


@dataclass
class Request:
    """What a service sees of one call: who sends it (the identity behind the bearer token) and what."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    host: str = ""
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)
    identity: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        self.host, self.path = parts.hostname or "", parts.path
        self.query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        auth = self.headers.get("authorization", "")
        if auth.startswith("Bearer " + TOKEN_PREFIX):
            self.identity = auth.removeprefix("Bearer " + TOKEN_PREFIX)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        if isinstance(self.body, bytes | str):
            data = self.body.encode() if isinstance(self.body, str) else self.body
            return data, self.headers
        if self.body is None:
            return b"", self.headers
        return json.dumps(self.body).encode(), {"content-type": "application/json; charset=utf-8"} | self.headers


def error(status: int, code: str, message: str) -> Response:
    """The ARM / data-plane error body every Azure REST API answers with."""
    return Response(status, {"error": {"code": code, "message": message}},
                    {"x-ms-error-code": code})


TOKEN_PREFIX = "fake-token-for:"


class IdentityCredential:
    """A managed identity's credential: its tokens name the identity, so a service can check its roles."""

    def __init__(self, identity: str) -> None:
        self.identity = identity

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN_PREFIX + self.identity, int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        return AccessTokenInfo(TOKEN_PREFIX + self.identity, int(time.time()) + 3600)


class ServiceTransport(HttpTransport):
    """Routes every request by host to a service's `handle(Request) -> Response`; unknown hosts fail loudly."""

    def __init__(self, services: dict[str, Callable[[Request], Response]]) -> None:
        self.services = services
        self.log: list[Request] = []

    def __enter__(self) -> ServiceTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def service_for(self, host: str) -> Callable[[Request], Response]:
        for suffix, service in self.services.items():
            if host == suffix or host.endswith("." + suffix) or host.endswith(suffix):
                return service
        raise AssertionError(f"no stand-in answers for host {host!r}: the code would call the real network")

    def send(self, request: Any, **kwargs: Any) -> Any:
        body = _read_body(request)
        seen = Request(request.method, request.url, {k.lower(): v for k, v in request.headers.items()}, body or b"")
        self.log.append(seen)
        answer = self.service_for(seen.host)(seen)
        data, headers = answer.encoded()
        raw = requests.Response()
        raw.status_code = answer.status
        raw.raw = io.BytesIO(data)
        raw.headers.update(headers)
        raw.url = request.url
        raw.request = requests.Request(request.method, request.url).prepare()
        if isinstance(request, RestRequest):  # what azure-core's own RequestsTransport does
            response = RestRequestsTransportResponse(request=request, internal_response=raw)
            response.read()
            return response
        return RequestsTransportResponse(request, raw)


def _read_body(request: Any) -> bytes:
    """Bodies as bytes, whichever request type carries them (and streamed ones, e.g. file uploads, read whole)."""
    data = request.content if isinstance(request, RestRequest) else getattr(request, "data", None)
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if hasattr(data, "read"):
        return data.read()
    if isinstance(data, dict):
        return b""
    return b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in data)
