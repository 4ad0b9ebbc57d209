"""score.py and the endpoint's front refuse what they should before doing the work: a decompression-bomb PNG
from its header, nested JSON before parsing it, an oversized body before reading it."""

from __future__ import annotations

import io
import json
import socket
import time

import pytest
from PIL import Image

from shared.adapters.local_gateway import MAX_BODY_BYTES, Gateway
from trainer_image.serving import score


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("L", (width, height)).save(out, format="PNG", optimize=True)
    return out.getvalue()


def test_a_small_png_declaring_36_megapixels_is_refused_from_its_header():
    bomb = png(6000, 6000)
    assert len(bomb) < 100_000  # tiny on the wire
    with pytest.raises(score.BadRequest, match=r"6000x6000: more than 16000000 pixels"):
        score.decode_image(bomb)


def test_nested_json_is_a_bad_request_not_a_crash():
    body = b'{"image": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(score.BadRequest, match="nested deeper than"):
        score.parse_request(body, "application/json", {})


def test_the_gateway_refuses_an_oversized_body_without_reading_it():
    gateway = Gateway("k")
    gateway.routes["ep"] = {"blue": 1}
    try:
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as client:
            client.sendall(f"POST /ep/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n"
                           f"Content-Length: {50 * 1024 * 1024}\r\n\r\n".encode())  # and no body follows
            started = time.monotonic()
            chunks = []
            while chunk := client.recv(4096):  # the gateway closes the connection after refusing
                chunks.append(chunk)
            answer = b"".join(chunks).decode()
        assert answer.startswith("HTTP/1.1 413") and time.monotonic() - started < 5
        assert json.loads(answer.split("\r\n\r\n", 1)[1])["error"] == f"the body is over {MAX_BODY_BYTES} bytes"
    finally:
        gateway.close()
