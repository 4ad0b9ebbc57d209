"""Blob and Table adapters over the Azure SDK: the same code for Azure (managed identity) and Azurite."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.ports import ROW_ETAG, Blob, BlobInfo, Entity, NotFound, PreconditionFailed
from shared.settings import Settings, SettingsError

_TRANSACTION_LIMIT = 100


def _credential(settings: Settings) -> Any:
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if settings.storage_client_id:
        return ManagedIdentityCredential(client_id=settings.storage_client_id)
    return DefaultAzureCredential()


TIMEOUTS = {"connection_timeout": 10, "read_timeout": 30}
"""A stalled account fails a call in bounded time instead of holding a function invocation for minutes."""


def _service(client_class: Any, settings: Settings, service_uri: str | None, uri_setting: str) -> Any:
    """The same account, by connection string (Azurite, local mode) or by endpoint + managed identity (Azure)."""
    if settings.storage_connection_string:
        return client_class.from_connection_string(settings.storage_connection_string, **TIMEOUTS)
    if service_uri:
        return client_class(service_uri, credential=_credential(settings), **TIMEOUTS)
    raise SettingsError(f"set DataStorage (connection string) or {uri_setting}")


def blob_service(settings: Settings) -> BlobServiceClient:
    return _service(BlobServiceClient, settings, settings.blob_service_uri, "DataStorage__blobServiceUri")


def table_service(settings: Settings) -> TableServiceClient:
    return _service(TableServiceClient, settings, settings.table_service_uri, "DataStorage__tableServiceUri")


class AzureBlobStore:
    """BlobStore port over azure-storage-blob."""

    def __init__(self, service: BlobServiceClient) -> None:
        self.service = service
        self._known: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureBlobStore:
        return cls(blob_service(settings))

    def ensure_container(self, container: str) -> None:
        if container in self._known:
            return
        with contextlib.suppress(ResourceExistsError):
            self.service.create_container(container)
        self._known.add(container)

    def list(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        client = self.service.get_container_client(container)
        try:
            for props in client.list_blobs(name_starts_with=prefix or None):
                md5 = props.content_settings.content_md5
                yield BlobInfo(props.name, _bare(props.etag), props.size, bytes(md5).hex() if md5 else None)
        except ResourceNotFoundError:
            return

    def list_page(self, container: str, prefix: str = "", marker: str | None = None,
                  size: int = 5000) -> tuple[list[BlobInfo], str | None]:
        client = self.service.get_container_client(container)
        try:
            pages = client.list_blobs(name_starts_with=prefix or None, results_per_page=size).by_page(
                continuation_token=marker)
            page = [BlobInfo(p.name, _bare(p.etag), p.size) for p in next(pages, [])]
        except ResourceNotFoundError:
            return [], None
        return page, pages.continuation_token or None

    def top_level_folders(self, container: str) -> list[str]:
        client = self.service.get_container_client(container)
        try:
            return [p.name.rstrip("/") for p in client.walk_blobs(delimiter="/") if p.name.endswith("/")]
        except ResourceNotFoundError:
            return []

    def read(self, container: str, name: str) -> Blob:
        try:
            downloader = self.service.get_blob_client(container, name).download_blob(max_concurrency=1)
            data = downloader.readall()
        except ResourceNotFoundError:
            raise NotFound(f"{container}/{name}") from None
        return Blob(name, data, _bare(downloader.properties.etag))

    def info(self, container: str, name: str) -> BlobInfo | None:
        try:
            props = self.service.get_blob_client(container, name).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return BlobInfo(name, _bare(props.etag), props.size)

    def write(self, container: str, name: str, data: bytes, *, content_type: str = "application/octet-stream",
              overwrite: bool = True) -> str:
        client = self.service.get_blob_client(container, name)
        try:
            result = client.upload_blob(data, overwrite=overwrite,
                                        content_settings=ContentSettings(content_type=content_type))
        except ResourceExistsError:
            raise PreconditionFailed(f"{container}/{name} exists") from None
        except ResourceNotFoundError:
            self.ensure_container(container)
            result = client.upload_blob(data, overwrite=overwrite,
                                        content_settings=ContentSettings(content_type=content_type))
        return _bare(result["etag"])

    def delete(self, container: str, name: str) -> None:
        with contextlib.suppress(ResourceNotFoundError):
            self.service.get_blob_client(container, name).delete_blob()


def _bare(etag: str) -> str:
    """Blob ETags unquoted, as Event Grid's `eTag` carries them (the REST headers quote them)."""
    return etag.strip('"')


def _plain(entity: Any) -> Entity:
    row = dict(entity)
    row[ROW_ETAG] = entity.metadata["etag"]
    return row


class AzureTableStore:
    """TableStore port over azure-data-tables, with ETag-based optimistic concurrency."""

    def __init__(self, service: TableServiceClient) -> None:
        self.service = service
        self._known: set[str] = set()
        self._clients: dict[str, Any] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> AzureTableStore:
        return cls(table_service(settings))

    def _table(self, table: str):
        """One client per table, reused: building a client per call costs more than the insert on the hot path."""
        client = self._clients.get(table)
        if client is None:
            client = self._clients[table] = self.service.get_table_client(table)
        return client

    def ensure_table(self, table: str) -> None:
        if table not in self._known:
            self.service.create_table_if_not_exists(table)
            self._known.add(table)

    def get(self, table: str, partition_key: str, row_key: str) -> Entity:
        try:
            return _plain(self._table(table).get_entity(partition_key, row_key))
        except ResourceNotFoundError:
            raise NotFound(f"{table}/{partition_key}/{row_key}") from None

    def insert(self, table: str, entity: Mapping[str, Any]) -> str:
        try:
            return self._table(table).create_entity(_strip(entity))["etag"]
        except ResourceExistsError:
            raise PreconditionFailed(f"{table}/{entity['PartitionKey']}/{entity['RowKey']} exists") from None

    def upsert(self, table: str, entity: Mapping[str, Any]) -> str:
        return self._table(table).upsert_entity(_strip(entity), mode=UpdateMode.REPLACE)["etag"]

    def update(self, table: str, entity: Mapping[str, Any], etag: str) -> str:
        try:
            return self._table(table).update_entity(
                _strip(entity), mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )["etag"]
        except (ResourceModifiedError, ResourceNotFoundError) as exc:
            raise PreconditionFailed(f"{table}/{entity['PartitionKey']}/{entity['RowKey']}: {exc.reason}") from None

    def delete(self, table: str, partition_key: str, row_key: str) -> None:
        self._table(table).delete_entity(partition_key, row_key)

    def query(
        self, table: str, partition_key: str, row_key_prefix: str = "", after: tuple[str, str] | None = None
    ) -> Iterator[Entity]:
        flt = "PartitionKey eq @pk"
        params = {"pk": partition_key}
        if row_key_prefix:
            flt += " and RowKey ge @lo and RowKey lt @hi"
            params |= {"lo": row_key_prefix, "hi": row_key_prefix + "\uffff"}
        if after:
            if not after[0].isidentifier():
                raise ValueError(f"not a property name: {after[0]!r}")
            flt += f" and {after[0]} gt @after"
            params["after"] = after[1]
        try:
            for entity in self._table(table).query_entities(flt, parameters=params):
                yield _plain(entity)
        except ResourceNotFoundError:  # TableNotFound: a table nobody has written to yet has no rows
            return

    def upsert_many(self, table: str, entities: Iterable[Mapping[str, Any]]) -> int:
        by_partition: defaultdict[str, dict[str, Mapping[str, Any]]] = defaultdict(dict)
        for entity in entities:
            by_partition[entity["PartitionKey"]][entity["RowKey"]] = entity  # one op per row in a transaction
        client = self._table(table)
        written = 0
        for rows in by_partition.values():
            ordered = list(rows.values())
            for start in range(0, len(ordered), _TRANSACTION_LIMIT):
                chunk = ordered[start:start + _TRANSACTION_LIMIT]
                client.submit_transaction([("upsert", _strip(r), {"mode": UpdateMode.REPLACE}) for r in chunk])
                written += len(chunk)
        return written


def _strip(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entity.items() if k != ROW_ETAG}
