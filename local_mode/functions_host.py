"""A small stand-in for the Functions host's HTTP front on 127.0.0.1: every HTTP-triggered function of the app,
at its declared route and methods under /api, invoked with real `azure.functions.HttpRequest` objects.
Plus an inbox for the approval webhook (what a Teams/Slack channel would receive)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from function_app import functions
from shared.adapters.local_gateway import LocalHandler, LocalServer


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


def http_routes() -> list[tuple[re.Pattern[str], set[str], Callable]]:
    """(route regex, methods, user function) for each HTTP trigger declared by the app."""
    routes = []
    for function in functions():
        binding = json.loads(function.get_function_json())["bindings"][0]
        if binding["type"] == "httpTrigger":
            methods = {m.upper() for m in binding.get("methods") or ["GET", "POST"]}
            routes.append((_pattern(binding["route"]), methods, function.get_user_function()))
    return routes


class FunctionsHost:
    def __init__(self, port: int = 0) -> None:
        routes = http_routes()

        class Handler(LocalHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                body = self.body()
                for pattern, methods, function in routes:
                    if (match := pattern.match(url.path)) and self.command in methods:
                        request = func.HttpRequest(
                            self.command, f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}", body=body,
                            headers=dict(self.headers), params=dict(parse_qsl(url.query)),
                            route_params={k: v for k, v in match.groupdict().items() if v is not None})
                        response = function(request)
                        return self.reply(response.status_code, response.get_body(),
                                          {"Content-Type": response.headers.get("Content-Type") or response.mimetype})
                self.reply(404, b'{"error": "no function at this route"}')

            do_GET = do_POST = _serve

        self.server = LocalServer(port, Handler, "functions-host")
        self.port = self.server.server_port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.close()


class WebhookInbox:
    """Receives incoming-webhook posts ({"text": …}) as a chat channel would; keeps them in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        inbox = self

        class Handler(LocalHandler):
            def do_POST(self) -> None:
                inbox.messages.append(json.loads(self.body()).get("text", ""))
                self.reply(200, b"{}")

        self.server = LocalServer(0, Handler, "webhook-inbox")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/webhook"

    def links(self, decision: str = "approve") -> list[str]:
        return [m for text in self.messages for m in re.findall(rf"https?://\S+decision={decision}\S*", text)]

    def close(self) -> None:
        self.server.close()
