"""Start and stop a real Azurite (Blob, Queue, Table) on 127.0.0.1, for tests and local mode."""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from shared.adapters import child_processes

REPO_ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (not a secret: it only opens the local emulator).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def azurite_binary() -> str:
    candidate = os.environ.get("AZURITE_BIN") or str(REPO_ROOT / "tools" / "node_modules" / ".bin" / "azurite")
    if Path(candidate).exists():
        return candidate
    found = shutil.which("azurite")
    if not found:
        raise FileNotFoundError(
            f"Azurite not found at {candidate}: run scripts/setup_env.sh (it installs tools/node_modules)"
        )
    return found


class Azurite:
    """One Azurite process with its own ports and data folder; stopped on exit whatever happens."""

    def __init__(self, location: Path | None = None) -> None:
        self._own_dir = location is None
        self.location = location or Path(tempfile.mkdtemp(prefix="azurite-"))
        self.ports = {"blob": _free_port(), "queue": _free_port(), "table": _free_port()}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['blob']}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        endpoints = ";".join(
            f"{kind.capitalize()}Endpoint=http://127.0.0.1:{port}/{ACCOUNT}" for kind, port in self.ports.items()
        )
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};{endpoints};"

    def start(self, timeout: float = 60.0) -> Azurite:
        self.location.mkdir(parents=True, exist_ok=True)
        if not self._own_dir:
            self._lock()
        args = [azurite_binary(), "--silent", "--skipApiVersionCheck", "--loose", "--location", str(self.location)]
        for kind, port in self.ports.items():
            args += [f"--{kind}Host", "127.0.0.1", f"--{kind}Port", str(port)]
        log = open(self.location / "azurite.log", "wb")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        child_processes.spawned(self.process.pid)
        atexit.register(self.stop)
        deadline = time.monotonic() + timeout
        pending = set(self.ports.values())
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited with {self.process.returncode}: see {self.location}/azurite.log")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Azurite did not open ports {sorted(pending)} within {timeout:.0f}s")
            pending = {p for p in pending if not _accepts(p)}
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process:
            child_processes.stopped(self.process.pid)
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=2)  # it lingers on keep-alive connections
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.location, ignore_errors=True)

    def _lock(self) -> None:
        """One local mode per data folder: a second would run its own Azurite on the same files."""
        self._lock_file = (self.location / ".lock").open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "another process"
            self._lock_file.close()
            raise DataFolderBusy(f"{self.location} is in use by local mode pid {holder}: stop it first (or use "
                                 "another --data-dir)") from None
        self._lock_file.truncate(0)
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()  # the lock goes with the process, however it ends

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DataFolderBusy(RuntimeError):
    """Another local mode holds the data folder."""


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
