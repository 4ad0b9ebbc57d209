"""Live requests for local mode and its tests: a client scoring images one after another through the endpoint's
traffic split, as production does, remembering when each answer came, its status and which version gave it."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request


class LiveTraffic:
    def __init__(self, uri: str, key: str, images: list[bytes], query: str = "", pause: float = 0.02) -> None:
        self.uri, self.key, self.images, self.pause = uri + query, key, images, pause
        self.seen: list[tuple[float, int, str | None]] = []
        """(monotonic time, HTTP status, model version that answered) per request."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, name="live-traffic", daemon=True)
        self._thread.start()

    def _send(self) -> None:
        sent = 0
        while not self._stop.is_set():
            status, version = self._score(self.images[sent % len(self.images)])
            self.seen.append((time.monotonic(), status, version))
            sent += 1
            self._stop.wait(self.pause)

    def _score(self, body: bytes) -> tuple[int, str | None]:
        request = urllib.request.Request(self.uri, data=body, method="POST", headers={
            "Content-Type": "image/jpeg", "Authorization": f"Bearer {self.key}"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, str(json.loads(answer.read())["model"]["version"])
        except urllib.error.HTTPError as exc:
            return exc.code, None
        except (OSError, ValueError, KeyError):
            return 599, None

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
