"""Checkpoints and TensorBoard files mirrored to Blob Storage while training runs, and restored on restart."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_POINTER = "checkpoint"  # the file naming the latest checkpoint: uploaded last, so it never points ahead


class CheckpointSync:
    """Uploads new or changed files of `local_dir` to `<container>/<prefix>/` every `interval` seconds."""

    def __init__(self, store: Any, container: str, prefix: str, local_dir: Path, interval: float = 10.0) -> None:
        self.store, self.container, self.prefix = store, container, prefix.strip("/")
        self.local_dir, self.interval = local_dir, interval
        self._sent: dict[str, tuple[int, int]] = {}
        self._sent_pointer: bytes | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def restore(self) -> int | None:
        """Copy what an earlier attempt saved; return the step of the latest checkpoint found, if any."""
        names = [b.name for b in self.store.list(self.container, self.prefix + "/")]
        for name in sorted(names, key=lambda n: (n.endswith("/" + _POINTER), n)):
            local = self.local_dir / name[len(self.prefix) + 1:]
            local.parent.mkdir(parents=True, exist_ok=True)
            local.write_bytes(self.store.read(self.container, name).data)
            self._sent[local.relative_to(self.local_dir).as_posix()] = (local.stat().st_size, local.stat().st_mtime_ns)
        if not (self.local_dir / _POINTER).exists():
            return None
        self._sent_pointer = (self.local_dir / _POINTER).read_bytes()
        step = latest_step(self.local_dir)
        log.info("resuming from checkpoint", extra={"step": step, "files": len(names)})
        return step

    def sync(self) -> int:
        """Upload what changed. The pointer is read *before* listing: TensorFlow rewrites it only once a
        checkpoint is complete, so the pointer uploaded last never names files this pass did not see."""
        pointer = self.local_dir / _POINTER
        pointer_bytes = pointer.read_bytes() if pointer.exists() else None
        uploaded = 0
        for path in sorted(p for p in self.local_dir.rglob("*") if p.is_file() and p.name != _POINTER
                           and "_temp" not in p.parent.name):
            relative = path.relative_to(self.local_dir).as_posix()
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._sent.get(relative) == signature:
                continue
            self.store.write(self.container, f"{self.prefix}/{relative}", path.read_bytes())
            self._sent[relative] = signature
            uploaded += 1
        if pointer_bytes is not None and pointer_bytes != self._sent_pointer:
            self.store.write(self.container, f"{self.prefix}/{_POINTER}", pointer_bytes)
            self._sent_pointer = pointer_bytes
            uploaded += 1
        return uploaded

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sync()
            except Exception:  # a transient storage error must not stop training; the next pass retries
                log.exception("checkpoint upload failed; retrying on the next pass")

    def __enter__(self) -> CheckpointSync:
        self._thread = threading.Thread(target=self._loop, name="checkpoint-sync", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.sync()


def latest_step(model_dir: Path) -> int | None:
    from trainer_image.tf_compat import tf

    prefix = tf.train.latest_checkpoint(str(model_dir))
    if not prefix:
        return None
    return int(tf.train.load_variable(prefix, "step/.ATTRIBUTES/VARIABLE_VALUE"))
