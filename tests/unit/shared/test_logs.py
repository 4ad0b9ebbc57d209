import io
import json
import logging
import threading

import pytest

from shared import logs


def test_one_json_object_a_line_with_correlation_ids():
    stream = io.StringIO()
    logs.configure("INFO", stream)
    log = logging.getLogger("t")
    with logs.correlation(event_id="e1", batch_id="b1"):
        with logs.correlation(run_id="r1"):
            log.info("submitted", extra={"steps": 50})
        log.warning("outer")
    log.info("plain")
    first, second, third = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (first["message"], first["event_id"], first["batch_id"], first["run_id"], first["steps"]) == (
        "submitted", "e1", "b1", "r1", 50)
    assert second["level"] == "WARNING" and "run_id" not in second and second["batch_id"] == "b1"
    assert "batch_id" not in third


def test_a_console_someone_reads_gets_people_lines_and_the_file_gets_the_json(tmp_path, worker_root):
    """Local mode: no JSON line and no approval link on the console; the log file keeps both."""
    console, file = io.StringIO(), tmp_path / "local.jsonl"
    logs.configure("WARNING", console, file, human=True)
    link = "http://127.0.0.1/api/approvals?token=secret.token"
    with logs.correlation(batch_id="b1"):
        logging.getLogger("t").warning("approval requested", extra={"model_name": "m", "model_version": "3",
                                                                    "page": link, "approve": link + "&decision=a"})
        logging.getLogger("t").info("flush claimed", extra={"cut": "c"})  # below the console's level
    (shown,) = console.getvalue().splitlines()
    assert shown.endswith("WARNING  approval requested  model_name=m model_version=3") and "token" not in shown
    kept = [json.loads(line) for line in file.read_text().splitlines()]
    assert [k["message"] for k in kept] == ["approval requested", "flush claimed"] and kept[0]["page"] == link


class WorkerHandler(logging.Handler):
    """What azure-functions-python-worker 4.34 attaches to the root logger once its gRPC channel is up
    (`dispatcher.AsyncLoggingHandler`): each record's `self.format(record)` goes to the host with the invocation id
    of the function running on this thread (`_invocation_id_local`), as an `RpcLog` of category User."""

    def __init__(self):
        super().__init__()
        self.sent: list[dict] = []
        self.invocation = threading.local()

    def emit(self, record):
        msg = self.format(record)
        self.sent.append({"message": msg, "category": record.name,
                          "invocation_id": getattr(self.invocation, "invocation_id", None)})


@pytest.fixture
def worker_root():
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    handler = WorkerHandler()
    root.handlers[:] = [handler]
    yield handler
    root.handlers[:], root.level = saved, level


def test_the_function_app_keeps_the_workers_handler_and_its_lines_reach_the_host_as_json(worker_root, monkeypatch):
    from function_app import bootstrap

    monkeypatch.setenv("DataStorage", "UseDevelopmentStorage=true")
    monkeypatch.setattr(bootstrap, "_override", None)  # wired from the environment, as in the worker
    bootstrap._from_environment.cache_clear()
    bootstrap.services()  # the composition root, as the first invocation builds it
    bootstrap._from_environment.cache_clear()
    handlers = logging.getLogger().handlers  # (pytest's own capture handlers sit there too)
    assert worker_root in handlers  # kept
    assert not [h for h in handlers if type(h) is logging.StreamHandler]  # no second copy of each line on stderr
    worker_root.invocation.invocation_id = "inv-42"
    with logs.correlation(project="birds", batch_id="birds-1"):
        logging.getLogger("shared.pipeline.submit").info("flush submitted", extra={"run_id": "r1"})
    (sent,) = worker_root.sent
    assert sent["invocation_id"] == "inv-42" and sent["category"] == "shared.pipeline.submit"
    line = json.loads(sent["message"])
    assert (line["message"], line["project"], line["batch_id"], line["run_id"]) == (
        "flush submitted", "birds", "birds-1", "r1")


def test_outside_the_worker_the_function_app_logs_json_to_stderr(capsys):
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = []
    try:
        logs.attach("INFO")
        logging.getLogger("x").warning("hello")
        assert json.loads(capsys.readouterr().err.strip().splitlines()[-1])["message"] == "hello"
    finally:
        root.handlers[:] = saved
