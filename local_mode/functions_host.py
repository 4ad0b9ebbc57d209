"""A small stand-in for the Functions host's HTTP front on 127.0.0.1: every HTTP-triggered function of the app,
at its declared route and methods under /api, invoked with real `azure.functions.HttpRequest` objects.
Plus an inbox for the approval webhook (what a Teams/Slack channel would receive)."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func

from function_app import functions
from shared.adapters.local_gateway import LocalHandler, LocalServer

log = logging.getLogger(__name__)


def _pattern(route: str) -> re.Pattern[str]:
    """'status/{project?}' → a regex with named groups; optional parameters may be absent."""
    regex = ""
    for part in route.strip("/").split("/"):
        match = re.fullmatch(r"\{(\w+)(\?)?(?::[^}]*)?\}", part)
        if match and match.group(2):
            regex += rf"(?:/(?P<{match.group(1)}>[^/]+))?"
        elif match:
            regex += rf"/(?P<{match.group(1)}>[^/]+)"
        else:
            regex += "/" + re.escape(part)
    return re.compile(rf"^/api{regex}/?$")


APPROVAL_LINK = re.compile(r"https?://[^\s\"'<>]+/api/approvals\?token=[^\s\"'<>&]+")
MAX_BODY_BYTES = 16 * 1024 * 1024
"""Local stand-in for the host's request size limit."""


def http_routes() -> list[tuple[re.Pattern[str], set[str], bool, Callable]]:
    """(route regex, methods, whether a function key is required, user function) for each HTTP trigger."""
    routes = []
    for function in functions():
        binding = json.loads(function.get_function_json())["bindings"][0]
        if binding["type"] == "httpTrigger":
            methods = {m.upper() for m in binding.get("methods") or ["GET", "POST"]}
            keyed = str(binding.get("authLevel", "FUNCTION")).upper() != "ANONYMOUS"
            routes.append((_pattern(binding["route"]), methods, keyed, function.get_user_function()))
    return routes


class FunctionsHost:
    """Like the Functions host: function-level routes need the key (`?code=` or `x-functions-key`), a handler that
    raises answers 500, and an oversized body is refused before it is read."""

    def __init__(self, port: int = 0, key: str | None = None) -> None:
        routes, self.key = http_routes(), key or secrets.token_hex(24)  # hex: never read as an option
        host = self

        class Handler(LocalHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                params = dict(parse_qsl(url.query))
                for pattern, methods, keyed, function in routes:
                    if (match := pattern.match(url.path)) and self.command in methods:
                        if keyed and host.key not in (params.get("code"), self.headers.get("x-functions-key")):
                            return self.reply(401, b"")  # what the host answers without a valid key
                        if int(self.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
                            self.close_connection = True
                            return self.reply(413, b'{"error": "request body too large"}')
                        return self._call(function, url, params, match)
                self.reply(404, b'{"error": "no function at this route"}')

            def _call(self, function: Callable, url, params: dict, match: re.Match) -> None:
                request = func.HttpRequest(
                    self.command, f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}", body=self.body(),
                    headers=dict(self.headers), params=params,
                    route_params={k: unquote(v) for k, v in match.groupdict().items() if v is not None})
                try:
                    response = function(request)
                except Exception:
                    log.exception("function failed", extra={"route": url.path})
                    return self.reply(500, b'{"error": "the function failed: see the log"}')
                headers = {k: v for k, v in response.headers.items()
                           if k.lower() not in ("content-length", "content-type")}
                self.reply(response.status_code, response.get_body(),
                           headers | {"Content-Type": response.headers.get("Content-Type") or response.mimetype})

            do_GET = do_POST = _serve

        self.server = LocalServer(port, Handler, "functions-host")
        self.port = self.server.server_port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, route: str) -> str:
        """A route's URL with the function key, as the portal's "Get function URL" gives it."""
        return f"http://{self.host}/api/{route}?code={self.key}"

    def close(self) -> None:
        self.server.close()


class WebhookInbox:
    """Receives incoming-webhook posts (cards) as a chat channel would; keeps them in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        inbox = self

        class Handler(LocalHandler):
            def do_POST(self) -> None:
                inbox.messages.append(self.body().decode())  # a Teams card or Slack blocks, as posted
                self.reply(200, b"{}")

        self.server = LocalServer(0, Handler, "webhook-inbox")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/webhook"

    def links(self) -> list[str]:
        """Approval page links in what was posted (card buttons, or plain text), in order."""
        return [m for text in self.messages for m in APPROVAL_LINK.findall(text)]

    def close(self) -> None:
        self.server.close()
