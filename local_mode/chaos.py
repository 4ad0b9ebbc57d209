"""Faults on order, for the chaos soak (`bench/chaos_soak.py`): what Event Grid and a clock can do to the service,
played by local mode's own event source, run events and timers.

`serve --chaos-dir DIR` reads each `DIR/*.json` order once (then removes it) before its next poll and tick:
  {"fault": "drop-events", "count": N}       the next N blob events are lost (accepted, never delivered)
  {"fault": "duplicate-events", "count": N}  the next N deliveries are delivered twice
  {"fault": "reorder-events", "count": N, "seconds": S}
                                             the next N deliveries are held back S seconds while later ones go
                                             ahead (as Event Grid retries a delivery that failed)
  {"fault": "lose-completion", "count": N}   the events of the next N runs' ends are lost
  {"fault": "skew-clock", "seconds": S}      the next debounce and release ticks take now + S as the time
Every fault is logged when it strikes (`chaos: ...`), so a soak's history shows what the service was dealt.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Delivery = Callable[[list[dict[str, Any]]], None]


class Chaos:
    def __init__(self, folder: Path, seed: int = 0) -> None:
        self.folder = folder
        self.armed: dict[str, int] = {"drop-events": 0, "duplicate-events": 0, "reorder-events": 0,
                                      "lose-completion": 0}
        self.hold_seconds = 30.0
        self.skew = 0.0
        self.held: list[tuple[float, list[dict[str, Any]]]] = []
        """(when it is due, the events) of each delivery held back."""
        self.rng = random.Random(seed)

    def take_orders(self) -> None:
        """Arm the faults ordered since the last call (a bad order is logged and removed, never retried)."""
        for path in sorted(self.folder.glob("*.json")):
            try:
                order = json.loads(path.read_text())
                fault = order["fault"]
                if fault == "skew-clock":
                    self.skew = float(order["seconds"])
                else:
                    self.hold_seconds = float(order.get("seconds", self.hold_seconds))
                    self.armed[fault] += int(order.get("count", 1))
                log.warning("chaos: fault armed", extra={"order": order})
            except (ValueError, KeyError, TypeError) as exc:
                log.error("chaos: order refused", extra={"file": path.name, "error": str(exc)})
            path.unlink(missing_ok=True)

    def blob_delivery(self, deliver: Delivery) -> Delivery:
        """`deliver` with the armed event faults applied: what the event source then believes was delivered."""

        def faulty(events: list[dict[str, Any]]) -> None:
            events = self._drop(events)
            if self.armed["reorder-events"] and events:
                self.armed["reorder-events"] -= 1
                self.held.append((time.monotonic() + self.hold_seconds, events))
                self.held.sort(key=lambda held: held[0])
                log.warning("chaos: delivery held back", extra={"events": len(events),
                                                                "seconds": self.hold_seconds})
                return
            deliver(events)
            if self.armed["duplicate-events"] and events:
                self.armed["duplicate-events"] -= 1
                log.warning("chaos: delivery duplicated", extra={"events": len(events)})
                deliver(events)

        return faulty

    def _drop(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = list(events)
        while self.armed["drop-events"] and kept:
            self.armed["drop-events"] -= 1
            lost = kept.pop(self.rng.randrange(len(kept)))
            log.warning("chaos: blob event dropped", extra={"blob": lost.get("subject", ""),
                                                            "event_type": lost.get("eventType")})
        return kept

    def release_held(self, deliver: Delivery) -> None:
        """Deliver the held-back deliveries that are due (a failure leaves one held: the next call tries again, as
        Event Grid retries)."""
        while self.held and self.held[0][0] <= time.monotonic():
            _, events = self.held[0]
            try:
                deliver(events)
            except Exception as exc:
                log.warning("chaos: held delivery failed: tried again later", extra={"error": str(exc)[:300]})
                return
            self.held.pop(0)
            log.warning("chaos: held delivery delivered late", extra={"events": len(events)})

    def run_delivery(self, deliver: Delivery) -> Delivery:
        """`deliver` for run events (each call: the events of one run's end), losing the armed number of calls."""

        def faulty(events: list[dict[str, Any]]) -> None:
            if self.armed["lose-completion"]:
                self.armed["lose-completion"] -= 1
                log.warning("chaos: run events lost", extra={"events": len(events), "subject": events[0]["subject"]
                                                             if events else ""})
                return
            deliver(events)

        return faulty

    def clock(self) -> datetime:
        """Now, skewed once: the skew applies to the ticks of one loop pass (see `tick_done`)."""
        return datetime.now(UTC) + timedelta(seconds=self.skew)

    def tick_done(self) -> None:
        if self.skew:
            log.warning("chaos: ticks ran with a skewed clock", extra={"seconds": self.skew})
            self.skew = 0.0
