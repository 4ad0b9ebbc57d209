"""Local mode's child processes die with it, however it ends (Ctrl-C, `kill`, even SIGKILL).

A small watchdog process reads a pipe whose write end only local mode holds (children are started with
`close_fds`, so none inherits it). Each child (Azurite, a trainer, an inference server: each in its own process
group) is announced on the pipe when it starts and withdrawn when it is stopped. When local mode ends in any way the
pipe closes, and the watchdog stops every group still announced: SIGTERM, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import IO

_pipe: IO[str] | None = None
GRACE_SECONDS = 3.0


def watch_children() -> int:
    """Start the watchdog for this process (once); return its pid."""
    global _pipe
    if _pipe is None:
        watchdog = subprocess.Popen([sys.executable, "-m", "shared.adapters.child_processes", str(os.getpid())],
                                    stdin=subprocess.PIPE, text=True, start_new_session=True)
        _pipe = watchdog.stdin
        _pipe.write(f"watchdog {watchdog.pid}\n")
        _pipe.flush()
        return watchdog.pid
    return -1


def spawned(pid: int) -> None:
    """A child process group (led by `pid`) to stop if this process dies."""
    _send(f"+{pid}")


def stopped(pid: int) -> None:
    """The child ended the normal way: never signal its (possibly reused) process group later."""
    _send(f"-{pid}")


def _send(line: str) -> None:
    if _pipe is not None:
        try:
            _pipe.write(line + "\n")
            _pipe.flush()
        except (BrokenPipeError, ValueError):  # the watchdog is gone: nothing left to tell
            pass


def _kill_groups(groups: set[int]) -> None:
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 0.0)):
        for group in list(groups):
            try:
                os.killpg(group, sig)
            except (ProcessLookupError, PermissionError):
                groups.discard(group)
        deadline = time.monotonic() + wait
        while groups and time.monotonic() < deadline:
            for group in list(groups):
                try:
                    os.killpg(group, 0)
                except ProcessLookupError:
                    groups.discard(group)
            time.sleep(0.1)


def main() -> None:
    """The watchdog: collect announced groups until the pipe closes, then stop what is left of them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is local mode's to handle, not ours
    groups: set[int] = set()
    for line in sys.stdin:
        if line[:1] == "+":
            groups.add(int(line[1:]))
        elif line[:1] == "-":
            groups.discard(int(line[1:]))
    _kill_groups(groups)


if __name__ == "__main__":
    main()
