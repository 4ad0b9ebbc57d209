"""Failures per client in a sliding window: enough to stop guessing at a public route, never a bottleneck."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable


class FailureLimit:
    """At most `failures` refused attempts per client per `window` seconds; then the client waits."""

    def __init__(self, failures: int = 10, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10_000) -> None:
        self.failures, self.window, self.clock, self.max_clients = failures, window, clock, max_clients
        self._seen: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str) -> deque[float]:
        times, horizon = self._seen[client], self.clock() - self.window
        while times and times[0] < horizon:
            times.popleft()
        return times

    def retry_after(self, client: str) -> float:
        """Seconds this client must wait before trying again (0: it may try now)."""
        with self._lock:
            times = self._recent(client)
            return 0.0 if len(times) < self.failures else times[0] + self.window - self.clock()

    def failed(self, client: str) -> None:
        with self._lock:
            if len(self._seen) >= self.max_clients and client not in self._seen:
                self._seen.clear()  # a flood of addresses: forget rather than grow without bound
            self._recent(client).append(self.clock())
