"""The local gateway mirrors a share of the split's requests as Azure ML's mirror_traffic does: the caller gets the
live slot's answer only, the copy carries the same request id, and both answers are kept for the release."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from shared.adapters.local_gateway import Gateway, LocalHandler, LocalServer


class Backend:
    """A deployment that answers one detection labelled with its own name and remembers the request ids."""

    def __init__(self, name: str, status: int = 200) -> None:
        self.seen: list[str] = []
        backend = self

        class Handler(LocalHandler):
            def do_POST(self) -> None:
                self.body()
                backend.seen.append(self.headers.get("x-request-id"))
                box = {"xmin": 0.1, "ymin": 0.1, "xmax": 0.5, "ymax": 0.5}
                self.reply(status, json.dumps({"detections": [{"label": name, "score": 0.9, "box_normalized": box}],
                                               "model": {"version": name}}).encode())

        self.server = LocalServer(0, Handler, name)
        self.port = self.server.server_port


def score(gateway: Gateway, request_id: str, pinned: str = "") -> dict:
    request = urllib.request.Request(gateway.scoring_uri("ep"), data=b"image bytes", method="POST", headers={
        "Authorization": "Bearer k", "x-request-id": request_id, **({"azureml-model-deployment": pinned}
                                                                     if pinned else {})})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_mirrored_copies_never_reach_the_caller_and_both_answers_are_kept():
    blue, green, gateway = Backend("blue"), Backend("green"), Gateway("k")
    since = datetime.now(UTC)
    try:
        gateway.routes["ep"] = {"blue": blue.port, "green": green.port}
        gateway.traffic["ep"], gateway.mirror["ep"] = {"blue": 100}, {"green": 100}
        answers = [score(gateway, f"r{i}")["model"]["version"] for i in range(5)]
        assert answers == ["blue"] * 5
        assert score(gateway, "pinned", pinned="blue")["model"]["version"] == "blue"  # pinned: not mirrored
        deadline = time.monotonic() + 5
        while len(green.seen) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(green.seen) == [f"r{i}" for i in range(5)], "each copy keeps its request's id"
        kept = gateway.answers("ep", "green", since)
        assert len(kept) == 5 and {a.detections[0].label for a in kept} == {"green"}
        assert kept[0].image == gateway.answers("ep", "blue", since)[0].image  # paired by the image's hash
        gateway.mirror["ep"] = {}
        score(gateway, "after")
        time.sleep(0.2)
        assert "after" not in green.seen
    finally:
        for server in (blue.server, green.server):
            server.close()
        gateway.close()


def test_a_dead_slot_is_remembered_as_failing():
    gateway = Gateway("k")
    dead = LocalServer(0, LocalHandler, "dead")
    port = dead.server_port
    dead.close()  # nothing listens there any more
    try:
        gateway.routes["ep"], gateway.traffic["ep"] = {"blue": port}, {"blue": 100}
        request = urllib.request.Request(gateway.scoring_uri("ep"), data=b"x", method="POST",
                                         headers={"Authorization": "Bearer k"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 502
        (answer,) = gateway.answers("ep", "blue", datetime(2000, 1, 1, tzinfo=UTC))
        assert answer.status == 502 and answer.detections == ()
    finally:
        gateway.close()
