"""`python -m local_mode logs`: a batch's timeline from the log file, as a person (or a script, with --json) reads
it, and --follow printing the batch's new lines as local mode writes them."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def line(time_: str, message: str, **fields) -> str:
    return json.dumps({"time": f"2026-11-26T07:{time_}Z", "level": "INFO", "message": message} | fields)


def logs(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "local_mode", "logs", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def write(path: Path, *lines: str) -> None:
    with path.open("a") as handle:
        handle.write("".join(text + "\n" for text in lines))


def test_json_holds_only_the_document_and_the_latest_batch_of_the_project_is_shown(tmp_path):
    log = tmp_path / "local-mode.jsonl"
    write(log, line("00:00.000", "uploads recorded", project="birds", files=4, last_event_time="2026-11-26T07:00"),
          line("01:00.000", "flush claimed", project="birds", batch_id="birds-1", cut="2026-11-26T07:00", changes=4),
          line("01:30.000", "flush claimed", project="cats", batch_id="cats-1", cut="2026-11-26T07:01", changes=1),
          "not json at all: a traceback line",
          line("02:00.000", "training submitted", project="birds", batch_id="birds-1", run_id="r1"))
    done = logs("--log-file", str(log), "--project", "birds", "--json")
    assert done.returncode == 0, done.stderr
    story = json.loads(done.stdout)
    assert (story["batch_id"], story["project"]) == ("birds-1", "birds")
    assert [s["message"] for s in story["lines"]] == ["uploads recorded", "flush claimed", "training submitted"]
    human = logs("--log-file", str(log))  # no project: the latest batch of any
    assert human.returncode == 0 and human.stdout.splitlines()[0] == "batch cats-1"


def test_a_missing_file_or_batch_is_said_on_stderr_with_a_nonzero_exit(tmp_path):
    missing = logs("--log-file", str(tmp_path / "none.jsonl"))
    assert missing.returncode == 2 and "no log file" in missing.stderr and missing.stdout == ""
    log = tmp_path / "local-mode.jsonl"
    write(log, line("00:00.000", "uploads recorded", project="birds", files=1))
    assert logs("--log-file", str(log), "--project", "birds").returncode == 1
    unknown = logs("--log-file", str(log), "--batch", "birds-9")
    assert unknown.returncode == 1 and "no line of batch birds-9" in unknown.stderr


def test_follow_prints_the_batch_new_lines_until_interrupted(tmp_path):
    log = tmp_path / "local-mode.jsonl"
    write(log, line("01:00.000", "flush claimed", project="birds", batch_id="birds-1", cut="x", changes=1))
    follow = subprocess.Popen([sys.executable, "-m", "local_mode", "logs", "--log-file", str(log), "--follow"],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=os.environ | {"PYTHONUNBUFFERED": "1"})
    lines = Lines(follow)
    try:
        assert lines.next() == "batch birds-1" and "flush claimed" in lines.next()
        write(log, line("02:00.000", "training submitted", project="cats", batch_id="cats-7"),  # another batch
              line("03:00.000", "release live", project="birds", batch_id="birds-1", model_version="2", slot="blue"))
        shown = lines.next()
        assert "release live" in shown and "slot=blue" in shown
    finally:
        follow.send_signal(signal.SIGINT)
        assert follow.wait(timeout=30) == 0


class Lines:
    """A process's stdout lines, read by a thread (a text pipe's buffer hides lines from select())."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.queue.put(text.rstrip("\n")) for text in process.stdout],
                         daemon=True).start()

    def next(self, timeout: float = 20) -> str:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line within the timeout") from None
