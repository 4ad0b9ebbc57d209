"""Where inputs and outputs live: a local path (Azure ML mounts) or `blob://container/path` (local mode)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from shared import blob_folders
from shared.adapters.azure_storage import AzureBlobStore
from shared.settings import Settings

BLOB_SCHEME = "blob://"


@dataclass(frozen=True)
class BlobPath:
    container: str
    name: str

    @classmethod
    def parse(cls, value: str) -> BlobPath:
        container, _, name = value.removeprefix(BLOB_SCHEME).partition("/")
        if not container:
            raise ValueError(f"{value!r}: expected container/path")
        return cls(container, name.strip("/"))


def is_blob(value: str) -> bool:
    return value.startswith(BLOB_SCHEME)


@functools.cache
def store() -> AzureBlobStore:
    """Blob Storage through the same adapter as the function app (connection string or managed identity)."""
    return AzureBlobStore.from_settings(Settings.from_env())


def read_bytes(location: str) -> bytes:
    if is_blob(location):
        path = BlobPath.parse(location)
        return store().read(path.container, path.name).data
    return Path(location).read_bytes()


def beside(location: str, relative: str) -> str:
    """A path relative to a file's folder (a manifest's shards sit beside it, blob or mounted)."""
    if is_blob(location):
        path = BlobPath.parse(location)
        folder = path.name.rpartition("/")[0]
        return f"{BLOB_SCHEME}{path.container}/{folder}/{relative}" if folder else \
            f"{BLOB_SCHEME}{path.container}/{relative}"
    return str(Path(location).parent / relative)


def download_folder(location: str, target: Path) -> Path:
    """A blob folder copied to `target`; a local folder is used where it is."""
    if not is_blob(location):
        return Path(location)
    folder = BlobPath.parse(location)
    return blob_folders.download_folder(store(), folder.container, folder.name, target)


def write_file(folder: str, name: str, data: bytes) -> None:
    """One file into a folder location (a blob folder, or a local or mounted one)."""
    if is_blob(folder):
        path = BlobPath.parse(folder)
        store().write(path.container, f"{path.name}/{name}".lstrip("/"), data)
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / name).write_bytes(data)


def upload_folder(source: Path, location: str) -> None:
    """Copy a local folder to a blob folder, or leave it (Azure ML uploads its mounted output itself)."""
    if not is_blob(location):
        return
    folder = BlobPath.parse(location)
    blob_folders.upload_folder(store(), source, folder.container, folder.name)
