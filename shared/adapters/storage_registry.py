"""ModelRegistry twin for local mode: versions in a Table, the same shape as Azure ML's registry."""

from __future__ import annotations

import json

from shared.ports import NotFound, PreconditionFailed, TableStore
from shared.registry import ModelCandidate, RegisteredModel


class StorageRegistry:
    """Partition = model name, row = zero-padded version; a version is claimed with an insert (no overwrite)."""

    def __init__(self, tables: TableStore, table: str = "modelregistry") -> None:
        self.tables, self.table = tables, table

    def register(self, candidate: ModelCandidate) -> RegisteredModel:
        self.tables.ensure_table(self.table)
        for _ in range(20):
            versions = list(self.tables.query(self.table, candidate.name))
            mine = [v for v in versions if v.get("run_id") == candidate.run_id]
            if mine:
                return RegisteredModel(candidate.name, str(int(mine[0]["RowKey"])), mine[0]["state"], False)
            version = max((int(v["RowKey"]) for v in versions), default=0) + 1
            tags = candidate.tags()
            try:
                self.tables.insert(self.table, {"PartitionKey": candidate.name, "RowKey": f"{version:06d}",
                                                "path": candidate.model_folder, "tags": json.dumps(tags),
                                                "properties": json.dumps(candidate.properties()),
                                                **{k: tags[k] for k in ("run_id", "dataset_version", "state")}})
            except PreconditionFailed:
                continue  # another registration took this version: look again
            return RegisteredModel(candidate.name, str(version), tags["state"], True)
        raise RuntimeError(f"could not register {candidate.name}: versions kept changing")

    def set_state(self, name: str, version: str, state: str) -> None:
        try:
            row = self.tables.get(self.table, name, f"{int(version):06d}")
        except NotFound as exc:
            raise NotFound(f"model {name} version {version} is not registered") from exc
        tags = json.loads(row["tags"]) | {"state": state}
        self.tables.upsert(self.table, row | {"tags": json.dumps(tags), "state": state})
