"""Reads for HTTP routes in a worker thread: when the account stalls, the caller gets 503 with the reason within
REQUEST_TIMEOUT_SECONDS instead of a hung request (the worker's own storage calls time out later)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as Late
from typing import TypeVar

from azure.core.exceptions import AzureError

T = TypeVar("T")
log = logging.getLogger(__name__)
_readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reads")


class Unavailable(Exception):
    """Storage did not answer in time, or failed: `reason` is what the caller is told (503)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_within(read: Callable[[], T], seconds: float, route: str) -> T:
    """`read()`'s result, or Unavailable when it takes longer than `seconds` or storage fails."""
    future = _readers.submit(read)
    try:
        return future.result(timeout=seconds)
    except Late:
        log.error("storage did not answer a page", extra={"route": route, "seconds": seconds})
        raise Unavailable(f"storage did not answer within {seconds:g} s: try again shortly") from None
    except AzureError as exc:
        log.error("storage failed a page", extra={"route": route, "error": str(exc)[:300]})
        raise Unavailable(f"storage failed: {str(exc)[:300]}") from exc
