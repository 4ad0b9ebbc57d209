"""Test session wiring: one real Azurite for the whole run (started here, stopped at the end)."""

from __future__ import annotations

import os
import uuid

import pytest

from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.settings import Settings


@pytest.fixture(scope="session")
def azurite_connection_string():
    """Azurite started for this session, unless the caller already runs one (AZURITE_CONNECTION_STRING)."""
    given = os.environ.get("AZURITE_CONNECTION_STRING")
    if given:
        yield given
        return
    from local_mode.azurite import Azurite

    with Azurite() as azurite:
        yield azurite.connection_string


@pytest.fixture(scope="session")
def label_studio():
    """A real Label Studio for this session (about a minute to start on 2 cores), with a user and its personal
    access token; started only by the tests that ask for it."""
    from local_mode.label_studio import LocalLabelStudio

    with LocalLabelStudio() as tool:
        yield tool


@pytest.fixture
def settings(azurite_connection_string) -> Settings:
    """Settings pointing at Azurite, with containers of this test's own."""
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        storage_connection_string=azurite_connection_string,
        datasets_container=f"datasets-{suffix}",
        quarantine_container=f"quarantine-{suffix}",
        manifests_container=f"manifests-{suffix}",
    )


@pytest.fixture
def blob_store(settings) -> AzureBlobStore:
    return AzureBlobStore.from_settings(settings)


@pytest.fixture
def table_store(settings) -> AzureTableStore:
    return AzureTableStore.from_settings(settings)
