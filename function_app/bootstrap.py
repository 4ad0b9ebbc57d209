"""The composition root: builds every adapter from settings, once per worker process."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from shared import logs
from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.ports import BlobStore, TableStore
from shared.settings import Settings


@dataclass
class Services:
    settings: Settings
    blobs: BlobStore
    tables: TableStore


_override: Services | None = None


@functools.cache
def _from_environment() -> Services:
    settings = Settings.from_env()
    logs.configure(settings.log_level)
    return Services(settings, AzureBlobStore.from_settings(settings), AzureTableStore.from_settings(settings))


def services() -> Services:
    """The wired services; local mode and tests may install their own with `use()`."""
    return _override or _from_environment()


def use(custom: Services | None) -> None:
    global _override
    _override = custom
