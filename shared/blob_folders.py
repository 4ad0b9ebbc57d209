"""Copy a whole virtual folder between Blob Storage and the local disk, keeping relative paths."""

from __future__ import annotations

from pathlib import Path

from shared.ports import BlobStore


def download_folder(store: BlobStore, container: str, folder: str, target: Path) -> Path:
    """Every blob under `folder/` (the whole container for "") written below `target`; returns `target`."""
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    for info in store.list(container, prefix):
        local = target / info.name[len(prefix):]
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(store.read(container, info.name).data)
    return target


def upload_folder(store: BlobStore, source: Path, container: str, folder: str) -> None:
    """Every file below `source` written to `container/folder/<relative path>`."""
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        store.write(container, f"{folder.strip('/')}/{path.relative_to(source).as_posix()}", path.read_bytes())
