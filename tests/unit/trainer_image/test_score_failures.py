"""A request the model fails on: answered 500 with a reason, and collected with its status and error, so that a
release watching the new slot on Azure (which reads the collected rows) counts it."""

from __future__ import annotations

import json
import random
import time

import flask

from local_mode.demo_data import jpeg_bytes, make_scene
from trainer_image.serving import score


def test_a_request_the_model_fails_on_is_answered_500_and_collected_with_its_error(monkeypatch):
    collected = []

    class Buffer:
        def add(self, inputs: dict, outputs: dict) -> None:
            collected.append((inputs, outputs))

    def broken(*args, **kwargs):
        raise RuntimeError("the session was closed")

    monkeypatch.setattr(score, "_buffer", Buffer())
    monkeypatch.setattr(score, "detect", broken)
    image = jpeg_bytes(make_scene(random.Random(3), 64, 1)[0])
    with flask.Flask("test").test_request_context("/score", method="POST", data=image,
                                                  headers={"Content-Type": "image/jpeg", "x-request-id": "r-1"}):
        answer = score._score(flask.request, time.perf_counter())
    assert answer.status_code == 500 and json.loads(answer.get_data())["error"] == "the model failed on this image"
    (inputs, outputs), = collected
    assert inputs["request_id"] == outputs["request_id"] == "r-1" and inputs["image_bytes"] == len(image)
    assert (outputs["status"], outputs["error"], json.loads(outputs["detections"])) == (
        500, "RuntimeError: the session was closed", [])
    assert outputs["latency_ms"] >= 0
