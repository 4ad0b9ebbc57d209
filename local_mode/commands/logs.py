"""`python -m local_mode logs`: one batch's timeline from local mode's log file, as people read it."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from local_mode.commands.common import LOG_FILE, say
from shared import log_timeline


def add_parser(sub: argparse._SubParsersAction) -> None:
    logs_p = sub.add_parser("logs", help="one batch's timeline from local mode's log file (the latest batch of "
                            "--project unless --batch names one)")
    logs_p.add_argument("--project", help="the project (default: the latest batch of any project)")
    logs_p.add_argument("--batch", help="a batch id (see `flush claimed` lines, or the status route)")
    logs_p.add_argument("--follow", action="store_true", help="keep printing the batch's new lines until Ctrl-C")
    logs_p.add_argument("--log-file", default=str(LOG_FILE), help="the log file `run` or `serve` wrote")
    logs_p.add_argument("--json", action="store_true", help="print the timeline as one JSON document")
    logs_p.set_defaults(handler=show_logs)


def show_logs(args: argparse.Namespace) -> int:
    """A batch's timeline from the log file alone; with --json, stdout holds only the JSON document."""
    path = Path(args.log_file)
    if not path.is_file():
        say(f"[logs] {path}: no log file (local mode writes it while `run` or `serve` runs)")
        return 2
    with path.open(encoding="utf-8", errors="replace") as handle:
        lines = list(log_timeline.parse(handle))
        known = log_timeline.batches(lines, args.project)
        batch = args.batch or (known[-1][1] if known else None)
        if batch is None:
            say(f"[logs] {path}: no batch of {args.project or 'any project'} yet (no `flush claimed` line)")
            return 1
        story = log_timeline.timeline(lines, batch)
        if not story:
            say(f"[logs] {path}: no line of batch {batch}")
            return 1
        if args.json:
            print(json.dumps({"batch_id": batch, "project": story[0].get("project"), "lines": story}, indent=1))
            return 0
        print(f"batch {batch}", flush=True)
        for line in story:
            print(log_timeline.render(line), flush=True)
        return _follow(handle, lines, batch, len(story)) if args.follow else 0


def _follow(handle: Any, lines: list[dict], batch: str, shown: int) -> int:
    """New lines of the batch as local mode writes them (the run's end, the approval, the release)."""
    try:
        while True:
            fresh = list(log_timeline.parse(handle.readlines()))
            if fresh:
                lines.extend(fresh)
                story = log_timeline.timeline(lines, batch)
                for line in story[shown:]:
                    print(log_timeline.render(line), flush=True)
                shown = len(story)
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
