"""Blob events → the ledger: dataset files of project folders only, from the expected topic, never dated ahead."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from shared.clock import iso
from shared.events import BLOB_CREATED, EventSchemaError


def test_only_dataset_files_of_project_folders_in_the_datasets_container_are_changes(pipeline):
    event = pipeline.blob_event
    elsewhere = dataclasses.replace(event(BLOB_CREATED, "p/JPEGImages/a.jpg", "0x1", 3),
                                    subject="/blobServices/default/containers/models/blobs/p/a.jpg")
    result = pipeline.ingest.ingest([
        event(BLOB_CREATED, "p/JPEGImages/a.jpg", "0x1", 3), event(BLOB_CREATED, "p/notes.md", "0x2", 3),
        event(BLOB_CREATED, "loose.jpg", "0x3", 3), event(BLOB_CREATED, "..hidden/JPEGImages/a.jpg", "0x4", 3),
        elsewhere], pipeline.now)
    assert result.recorded == 1 and result.ignored == {
        "not a dataset file": 2, "not a project folder name": 1, "container models": 1}
    assert [r["blob"] for r in pipeline.tables.query(pipeline.settings.ledger_table, "p")] == ["p/JPEGImages/a.jpg"]


def test_events_from_another_storage_account_are_refused(pipeline):
    pipeline.rewire(expected_blob_topic="/subscriptions/s/resourceGroups/r/providers/Microsoft.Storage/"
                                        "storageAccounts/ours")
    result = pipeline.ingest.ingest([pipeline.blob_event(BLOB_CREATED, "p/JPEGImages/a.jpg", "0x1", 3)])
    assert result.refused == ["ev-1"] and result.recorded == 0


def test_an_event_dated_ahead_counts_as_received_now(pipeline):
    ahead = dataclasses.replace(pipeline.blob_event(BLOB_CREATED, "p/JPEGImages/a.jpg", "0x1", 3),
                                time=iso(pipeline.now + timedelta(days=365)))
    assert pipeline.ingest.ingest([ahead], pipeline.now).clamped == 1
    (row,) = pipeline.tables.query(pipeline.settings.ledger_table, "p")
    assert row["event_time"] == iso(pipeline.now)  # the window cannot be held open by a clock far ahead


def test_an_unreadable_time_names_the_event(pipeline):
    bad = dataclasses.replace(pipeline.blob_event(BLOB_CREATED, "p/JPEGImages/a.jpg", "0x1", 3), time="yesterday")
    with pytest.raises(EventSchemaError, match="event ev-1: time 'yesterday'"):
        pipeline.ingest.ingest([bad], pipeline.now)
