"""Application Insights' ingestion endpoint with local authentication off, and the managed identity endpoint Azure ML
gives a deployment's container, so score.py's telemetry runs through the real exporter and azure-identity.

Ingestion: `POST {IngestionEndpoint}/v2.1/track`, answered with the REST spec's TrackResponse
(Azure/azure-rest-api-specs specification/applicationinsights/data-plane/Monitor.Exporters/preview/v2.1/swagger.json
and its examples/track.json). With `DisableLocalAuth` only Entra ID tokens of identities holding Monitoring Metrics
Publisher on the resource are taken (learn.microsoft.com azure-monitor/app/azure-ad-authentication).
Managed identity: Azure ML sets MSI_ENDPOINT and MSI_SECRET; the token answer has the fields of azure-identity's own
Azure ML test (sdk/identity/azure-identity/tests/test_managed_identity.py, test_azure_ml)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http import TOKEN_PREFIX, Request, Response


class Ingestion:
    """The resource's ingestion: telemetry items kept with the identity that sent them."""

    def __init__(self, publishers: set[str]) -> None:
        self.publishers = publishers
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.refused: list[int] = []

    def handle(self, request: Request) -> Response:
        # the exporter joins the endpoint's trailing slash and the path: `…azure.com//v2.1/track`, as users' logs show
        assert (request.method, request.path.lstrip("/")) == ("POST", "v2.1/track"), request.url
        body = gzip.decompress(request.body) if request.headers.get("content-encoding") == "gzip" else request.body
        envelopes = json.loads(body)
        if request.identity is None or request.identity not in self.publishers:
            status = 401 if request.identity is None else 403  # local auth off: no key-only ingestion
            self.refused.append(status)
            return Response(status, _track(envelopes, 0, status))
        self.items += [(request.identity, envelope) for envelope in envelopes]
        return Response(200, _track(envelopes, len(envelopes)))

    def messages(self) -> list[dict[str, Any]]:
        """AppTraces as the resource would show them: message, role name, the identity that sent it."""
        return [{"message": e["data"]["baseData"]["message"], "role": e.get("tags", {}).get("ai.cloud.role"),
                 "sent_as": who} for who, e in self.items if e["data"]["baseType"] == "MessageData"]


def _track(envelopes: list[dict[str, Any]], accepted: int, status: int = 200) -> dict[str, Any]:
    errors = [] if accepted else [{"index": i, "statusCode": status, "message": ""} for i in range(len(envelopes))]
    return {"itemsReceived": len(envelopes), "itemsAccepted": accepted, "errors": errors}


class AzureMLIdentityEndpoint:
    """The token endpoint of a deployment's container: a token for the client id asked for."""

    SECRET = "msi-secret"

    def __init__(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
                if self.headers.get("secret") != endpoint.SECRET:
                    self.send_response(401)
                    self.end_headers()
                    return
                endpoint.asked.append(query)
                client = query.get("clientid") or query.get("client_id") or "system-assigned"
                body = json.dumps({"access_token": TOKEN_PREFIX + client, "expires_in": 3600,
                                   "expires_on": int(time.time()) + 3600, "resource": query.get("resource"),
                                   "token_type": "Bearer"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.asked: list[dict[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def environ(self) -> dict[str, str]:
        return {"MSI_ENDPOINT": f"http://127.0.0.1:{self.server.server_port}/msi/token", "MSI_SECRET": self.SECRET}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
