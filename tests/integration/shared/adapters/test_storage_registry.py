"""The storage-backed registry (local mode's twin of Azure ML's) on Azurite."""

from shared.adapters.storage_registry import StorageRegistry
from shared.registry import PENDING_APPROVAL, ModelCandidate


def candidate(run_id: str) -> ModelCandidate:
    return ModelCandidate(project="shapes", run_id=run_id, batch_id=f"b-{run_id}", dataset_version="v1",
                          base_model="base-models/ssd", model_folder=f"shapes/b-{run_id}/model",
                          metrics={"map": 0.41, "map_50": None})


def test_versions_grow_and_registering_a_run_again_changes_nothing(table_store, settings):
    registry = StorageRegistry(table_store, table="reg" + settings.datasets_container.split("-")[-1])
    first = registry.register(candidate("r1"))
    assert (first.name, first.version, first.state, first.created) == ("tfod-shapes", "1", PENDING_APPROVAL, True)
    again = registry.register(candidate("r1"))
    assert (again.version, again.created) == ("1", False)
    assert registry.register(candidate("r2")).version == "2"
    (row,) = [r for r in table_store.query(registry.table, "tfod-shapes") if r["run_id"] == "r1"]
    assert row["path"] == "shapes/b-r1/model" and '"metric_map": "0.4100"' in row["tags"]
