"""Fetch a model-zoo archive over HTTPS, within a size limit (the only download the service makes: when a person
adds a base model; nothing is downloaded at training time)."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit

from shared.base_models import ArchiveError

CHUNK = 1024 * 1024


def fetch(url: str, max_bytes: int, timeout: float = 60.0) -> bytes:
    """The body of `url` (https only), refused past `max_bytes` whatever Content-Length claims."""
    if urlsplit(url).scheme != "https":
        raise ArchiveError(f"{url}: only https:// URLs are fetched")
    request = urllib.request.Request(url, headers={"User-Agent": "tfod-retraining/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            declared = int(answer.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise ArchiveError(f"{url}: {declared} bytes, more than the limit of {max_bytes}")
            parts, size = [], 0
            while chunk := answer.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise ArchiveError(f"{url}: more than the limit of {max_bytes} bytes")
                parts.append(chunk)
    except OSError as exc:
        raise ArchiveError(f"{url}: could not be fetched: {exc}") from None
    return b"".join(parts)
