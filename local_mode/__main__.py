"""Local mode's command line (`python -m local_mode --help` lists the commands); `run` is the README's main
command. Each command lives in its own module under local_mode/commands/."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from local_mode.azurite import DataFolderBusy
from local_mode.commands import (
    aml_build,
    approval_link,
    base_model,
    download_model,
    export_labels,
    logs,
    preflight,
    run,
    serve,
    smoke,
    upload,
    validate,
)
from local_mode.commands.common import say
from shared import logs as service_logs
from shared.adapters.child_processes import watch_children

COMMANDS = (run, serve, logs, smoke, preflight, upload, validate, export_labels, base_model, approval_link,
            download_model, aml_build)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m local_mode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    local = getattr(args, "local", False)  # run and serve: the service itself runs here
    service_logs.configure(os.environ.get("LOG_LEVEL", "WARNING"), file=args.log_file if local else None,
                           human=local)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` and timeouts stop everything, as Ctrl-C does
    # Ctrl-C (SIGINT) always stops a command cleanly, also when started from a shell that ignores it for background
    # jobs (Python then installs no KeyboardInterrupt handler of its own)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if not local:
        return args.handler(args)
    watch_children()  # trainers, inference servers and Azurite die with this process, even on SIGKILL
    try:
        return args.handler(args)
    except DataFolderBusy as exc:
        say(f"[local] {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
