"""The in-worker batcher: concurrent requests share one model call, a lone caller never waits, nobody waits longer
than the bound, and an item that breaks the model fails alone."""

from __future__ import annotations

import threading
import time

import pytest

from trainer_image.serving.batching import Batcher


class Model:
    """Doubles numbers; records each call's items; refuses 'bad' (the whole call fails, as a model would)."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.calls: list[list] = []
        self.seconds = seconds

    def __call__(self, items):
        self.calls.append(list(items))
        time.sleep(self.seconds)
        if "bad" in items:
            raise ValueError("the model cannot take 'bad'")
        return [item * 2 for item in items]


def request(batcher: Batcher, item, answers: dict, decode_s: float, arrived: threading.Barrier) -> None:
    batcher.entering()
    try:
        arrived.wait(5)  # every request is inside the worker
        time.sleep(decode_s)  # decoding the image, before it can queue
        answers[item] = batcher.submit(item)
    except Exception as exc:
        answers[item] = exc
    finally:
        batcher.leaving()


def concurrently(batcher: Batcher, items: list, decode_s: list[float] | None = None) -> dict:
    answers: dict = {}
    arrived = threading.Barrier(len(items))
    threads = [threading.Thread(target=request, args=(batcher, item, answers, (decode_s or [0] * len(items))[i],
                                                      arrived)) for i, item in enumerate(items)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return answers


def test_a_lone_caller_runs_at_once():
    model = Model()
    batcher = Batcher(model, max_batch=8, wait_s=0.5)
    started = time.monotonic()
    assert concurrently(batcher, [21]) == {21: 42}
    assert time.monotonic() - started < 0.2 and model.calls == [[21]]


def test_a_lone_caller_runs_the_model_on_its_own_thread():
    """No hand-over to a batch thread and back for a request that has nobody to share a call with."""
    ran_on: list = []
    batcher = Batcher(lambda items: ran_on.append(threading.current_thread()) or [i * 2 for i in items],
                      max_batch=8, wait_s=0.5)
    answers: dict = {}
    caller = threading.Thread(target=request, args=(batcher, 4, answers, 0.0, threading.Barrier(1)))
    caller.start()
    caller.join(5)
    assert answers == {4: 8} and ran_on == [caller]


def test_no_more_model_calls_run_at_once_than_allowed_lone_callers_included():
    running, most, lock = [0], [0], threading.Lock()

    def model(items):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return [i * 2 for i in items]

    batcher = Batcher(model, max_batch=2, wait_s=0.01, calls=2)
    answers: dict = {}
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, batcher.submit(i))) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert answers == {i: 2 * i for i in range(12)} and most[0] == 2


def test_requests_inside_the_worker_together_share_one_call():
    model = Model()
    batcher = Batcher(model, max_batch=8, wait_s=0.5)
    answers = concurrently(batcher, [1, 2, 3, 4], decode_s=[0.0, 0.02, 0.04, 0.06])  # they queue one by one
    assert answers == {1: 2, 2: 4, 3: 6, 4: 8}
    assert sorted(map(sorted, model.calls)) == [[1, 2, 3, 4]] and batcher.batches == [4]


def test_a_batch_never_exceeds_its_size():
    model = Model(seconds=0.05)
    batcher = Batcher(model, max_batch=3, wait_s=0.2)
    answers = concurrently(batcher, list(range(1, 8)))
    assert answers == {i: 2 * i for i in range(1, 8)}
    assert max(len(c) for c in model.calls) <= 3 and sum(len(c) for c in model.calls) == 7


def test_nobody_waits_longer_than_the_bound_for_a_request_still_decoding():
    model = Model()
    batcher = Batcher(model, max_batch=8, wait_s=0.1)
    stuck = threading.Event()
    batcher.entering()  # a request that is slow to decode (it never queues here)
    started = time.monotonic()
    try:
        assert concurrently(batcher, [5]) == {5: 10}
        waited = time.monotonic() - started
    finally:
        stuck.set()
        batcher.leaving()
    assert 0.09 <= waited < 0.3, waited


def test_an_item_that_breaks_the_model_fails_alone():
    model = Model()
    batcher = Batcher(model, max_batch=8, wait_s=0.5)
    answers = concurrently(batcher, [1, "bad", 3])
    assert answers[1] == 2 and answers[3] == 6
    assert isinstance(answers["bad"], ValueError)
    assert [c for c in model.calls if len(c) == 3], "they were first tried together"


def test_a_model_answering_the_wrong_number_of_results_fails_the_requests_not_the_worker():
    batcher = Batcher(lambda items: [], max_batch=4, wait_s=0.05)
    answers = concurrently(batcher, [1, 2])
    assert all(isinstance(a, RuntimeError) for a in answers.values())
    with pytest.raises(RuntimeError):
        batcher.submit(3)  # the loop still runs


def test_callers_that_never_said_they_were_coming_are_not_waited_for():
    """In-process callers (the benchmark, the labelling bench) submit without entering(): nothing to wait for."""
    model = Model()
    batcher = Batcher(model, max_batch=8, wait_s=1.0)
    answers: dict = {}
    started = time.monotonic()
    threads = [threading.Thread(target=lambda i=i: answers.__setitem__(i, batcher.submit(i))) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert answers == {0: 0, 1: 2, 2: 4} and time.monotonic() - started < 0.5
