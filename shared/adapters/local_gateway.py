"""The local twin of an online endpoint's front door and of its data-collector sidecar, on 127.0.0.1.

Gateway: `POST /<endpoint>/score` with `Authorization: Bearer <key>` (401 without it, as Azure's key auth),
routed by the traffic split or pinned with the `azureml-model-deployment` header, to the deployment's inference
server; each request gets an `x-request-id` (unless the caller sent one), passed on and answered. A share of the
split's requests can be mirrored to another deployment (its answers are kept for the release, never returned).
CollectorSink: receives what `azureml.ai.monitoring.Collector` posts (`/modeldata/log`) and writes it to
Blob Storage in the data collector's layout: `<endpoint>/<deployment>/<collection>/yyyy/MM/dd/HH/<id>.jsonl`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import random
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shared.clock import iso
from shared.labelling.collected import detection_of
from shared.release_watch import Answer
from shared.serving import DEPLOYMENT_HEADER

log = logging.getLogger(__name__)


class LocalServer(ThreadingHTTPServer):
    """The HTTP servers local mode runs on 127.0.0.1 (gateway, collector, functions' routes, webhook inbox)."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        """Listen on 127.0.0.1:`port` (0: any free port) and serve from a daemon thread at once."""
        super().__init__(("127.0.0.1", port), handler)
        threading.Thread(target=self.serve_forever, name=name, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its kept-alive connection is normal; anything else is logged."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            log.exception("local HTTP request failed", extra={"client": str(client_address)})


class LocalHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    """Headers and body go out in two writes: without TCP_NODELAY, delayed ACKs add ~40 ms to each answer."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


MIRROR_THREADS, MIRROR_QUEUE = 4, 64
KEPT_ANSWERS = 20_000
"""Answers kept per slot for a release to read (a bake of half an hour at ten requests a second)."""
MAX_BODY_BYTES = 12 * 1024 * 1024
"""The largest scoring request: score.py's 8 MB image limit, base64-encoded in JSON, with room for the rest."""


@dataclass(frozen=True)
class _Seen:
    when: datetime
    image: str
    status: int
    latency_ms: float
    body: bytes

    def answer(self) -> Answer:
        status, detections = self.status, ()
        if status == 200:
            try:
                detections = tuple(detection_of(d) for d in json.loads(self.body)["detections"])
            except (ValueError, KeyError, TypeError):
                status = 502  # a 200 that is not a detection answer counts as a failure
        return Answer(self.image, status, self.latency_ms, detections, iso(self.when))


class Gateway:
    """Key check and traffic routing for every local endpoint; the backends are inference servers' ports."""

    def __init__(self, key: str, port: int = 0) -> None:
        self.key = key
        self.routes: dict[str, dict[str, int]] = {}
        """endpoint → slot → backend port."""
        self.traffic: dict[str, dict[str, int]] = {}
        self.mirror: dict[str, dict[str, int]] = {}
        """endpoint → slot → percent of the split's requests copied to it (answers not returned), as Azure ML's
        mirror_traffic."""
        self._answers: dict[tuple[str, str], deque[_Seen]] = {}
        self._mirroring = ThreadPoolExecutor(MIRROR_THREADS, thread_name_prefix="gateway-mirror")
        self._mirror_room = threading.BoundedSemaphore(MIRROR_QUEUE)
        self._local = threading.local()
        gateway = self

        class Handler(LocalHandler):
            def do_POST(self) -> None:
                gateway.handle(self)

            do_GET = do_POST

        self.server = LocalServer(port, Handler, "endpoint-gateway")
        self.port = self.server.server_port

    def scoring_uri(self, endpoint: str) -> str:
        return f"http://127.0.0.1:{self.port}/{endpoint}/score"

    def handle(self, request: LocalHandler) -> None:
        """Refusals come before the body is read: route, key, then the declared size (the connection is closed)."""
        endpoint, _, tail = request.path.lstrip("/").partition("/")
        refusal = None
        if tail.split("?")[0] != "score" or endpoint not in self.routes:
            refusal = 404, _error(f"no endpoint at {request.path}")
        elif not hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {self.key}".encode()):
            refusal = 401, _error("missing or wrong key: send 'Authorization: Bearer <endpoint key>'")
        elif int(request.headers.get("Content-Length") or 0) > MAX_BODY_BYTES:
            refusal = 413, _error(f"the body is over {MAX_BODY_BYTES} bytes")
        if refusal:
            if int(request.headers.get("Content-Length") or 0):
                request.close_connection = True  # the unread body must not be taken for the next request
            return request.reply(*refusal)
        data = request.body()
        pinned = request.headers.get(DEPLOYMENT_HEADER)
        slot = pinned or self._pick(endpoint)
        port = self.routes[endpoint].get(slot or "")
        if port is None:
            return request.reply(503 if slot is None else 404, _error(
                "no deployment takes traffic" if slot is None else f"no deployment named {slot!r}"))
        sent = {"Content-Type": request.headers.get("Content-Type", "application/octet-stream"),
                "x-request-id": request.headers.get("x-request-id") or str(uuid.uuid4())}
        if client_id := request.headers.get("x-ms-client-request-id"):
            sent["x-ms-client-request-id"] = client_id
        query = request.path.partition("/score")[2]
        if not pinned:
            self._maybe_mirror(endpoint, slot, request.command, query, data, sent)
        started = time.perf_counter()
        status, headers, body = self._forward(port, request.command, query, data, sent)
        self._remember(endpoint, slot, data, status, started, body)
        request.reply(status, body, {"Content-Type": headers.get("Content-Type", "application/json"),
                                     DEPLOYMENT_HEADER: slot, **{k: v for k, v in headers.items() if k.lower() in
                                                                 ("x-request-id", "x-ms-client-request-id")}})

    def _maybe_mirror(self, endpoint: str, live: str, method: str, query: str, data: bytes,
                      headers: dict[str, str]) -> None:
        """Copy the request to the mirrored slot (same request id) on a thread of its own: the caller never waits
        for it; when the mirror falls behind, copies are skipped rather than queued without end."""
        for slot, percent in self.mirror.get(endpoint, {}).items():
            port = self.routes[endpoint].get(slot)
            if slot == live or port is None or percent <= 0 or random.random() * 100 >= percent:
                continue
            if not self._mirror_room.acquire(blocking=False):
                continue
            future = self._mirroring.submit(self._mirror_one, endpoint, slot, port, method, query, data, headers)
            future.add_done_callback(lambda _: self._mirror_room.release())

    def _mirror_one(self, endpoint: str, slot: str, port: int, method: str, query: str, data: bytes,
                    headers: dict[str, str]) -> None:
        started = time.perf_counter()
        status, _, body = self._forward(port, method, query, data, headers)
        self._remember(endpoint, slot, data, status, started, body)

    def _remember(self, endpoint: str, slot: str, data: bytes, status: int, started: float, body: bytes) -> None:
        """What the slot answered, as a release watches it (Azure: the endpoint's metrics and collected rows); the
        answer is read only when a release asks, off the request's path."""
        seen = _Seen(datetime.now(UTC), hashlib.sha256(data).hexdigest(), status,
                     round((time.perf_counter() - started) * 1000, 2), body if status == 200 else b"")
        self._answers.setdefault((endpoint, slot), deque(maxlen=KEPT_ANSWERS)).append(seen)

    def answers(self, endpoint: str, slot: str, since: datetime) -> list[Answer]:
        return [seen.answer() for seen in list(self._answers.get((endpoint, slot), ())) if seen.when >= since]

    def _pick(self, endpoint: str) -> str | None:
        split = {s: p for s, p in self.traffic.get(endpoint, {}).items() if p > 0 and s in self.routes[endpoint]}
        return random.choices(list(split), weights=list(split.values()))[0] if split else None

    def _forward(self, port: int, method: str, query: str, data: bytes,
                 headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """One kept-alive connection per gateway thread and backend."""
        pool = self._local.__dict__.setdefault("pool", {})
        for attempt in range(2):
            connection = pool.get(port) or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            pool[port] = connection
            try:
                connection.request(method, "/score" + query, body=data, headers=headers)
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                connection.close()
                pool.pop(port, None)
                if attempt:
                    return 502, {}, _error(f"the deployment did not answer: {exc}")
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.server.close()
        self._mirroring.shutdown(wait=False, cancel_futures=True)


class CollectorSink:
    """One deployment's data-collector sidecar: payloads from score.py's Collector land in Blob Storage, batched
    (one JSONL blob per collection per flush, as Azure's collector appends to hourly files)."""

    def __init__(self, endpoint: str, deployment: str, write: Callable[[str, bytes], None],
                 flush_seconds: float = 1.0) -> None:
        self.endpoint, self.deployment, self.write = endpoint, deployment, write
        self._pending: dict[str, list[str]] = {}
        self._lock, self._stop = threading.Lock(), threading.Event()
        sink = self

        class Handler(LocalHandler):
            def do_POST(self) -> None:
                sink.handle(self)

        self.server = LocalServer(0, Handler, f"collector-{deployment}")
        self.port = self.server.server_port
        self._flusher = threading.Thread(target=self._flush_every, args=(flush_seconds,), daemon=True,
                                         name=f"collector-flush-{deployment}")
        self._flusher.start()

    def handle(self, request: LocalHandler) -> None:
        data = request.body()
        collection = request.headers.get("ce-type", "").removeprefix("azureml.inference.") or "unknown"
        now = datetime.now(UTC)
        try:
            payload: Any = json.loads(data)
        except ValueError:
            payload = data.decode(errors="replace")
        record = {"specversion": "1.0", "id": request.headers.get("trace-id"), "type": request.headers.get("ce-type"),
                  "source": f"/local/endpoints/{self.endpoint}/deployments/{self.deployment}",
                  "time": now.isoformat(), "datacontenttype": request.headers.get("Content-Type"),
                  "correlationid": request.headers.get("ce-x-request-id"), "data": payload}
        with self._lock:
            self._pending.setdefault(collection, []).append(json.dumps(record))
        request.reply(200, b"{}")

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, {}
        now = datetime.now(UTC)
        for collection, lines in pending.items():
            name = (f"{self.endpoint}/{self.deployment}/{collection}/{now:%Y/%m/%d/%H}/"
                    f"{now:%M%S%f}-{len(lines)}.jsonl")
            try:
                self.write(name, ("\n".join(lines) + "\n").encode())
            except Exception as exc:
                log.error("collected data not stored yet", extra={"blob": name, "error": str(exc)})
                with self._lock:
                    self._pending.setdefault(collection, [])[:0] = lines

    def _flush_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.flush()

    def close(self) -> None:
        self.server.close()
        self._stop.set()
        self._flusher.join()
        self.flush()
