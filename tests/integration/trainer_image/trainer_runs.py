"""What the trainer tests share: fresh containers on Azurite, a dataset snapshot published the way the function
publishes one, and a checkpoint's kernels read back for weight checks."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np

from shared.adapters.azure_storage import AzureBlobStore
from shared.dataset.service import DatasetBuilder
from shared.settings import Settings


def fresh_storage(connection_string: str) -> tuple[Settings, AzureBlobStore, str]:
    """Settings naming containers of their own (no other test's blobs), the store (datasets container made), and
    the suffix of those names, for more containers of the same test."""
    suffix = uuid.uuid4().hex[:6]
    settings = Settings(storage_connection_string=connection_string, datasets_container=f"ds{suffix}",
                        manifests_container=f"mf{suffix}", models_container=f"md{suffix}")
    store = AzureBlobStore.from_settings(settings)
    store.ensure_container(settings.datasets_container)
    return settings, store, suffix


def publish(store: AzureBlobStore, settings: Settings, project: str, files: dict[str, bytes]) -> str:
    """Upload `files` as `project`, snapshot it; the manifest's blob name (for `--manifest blob://…`)."""
    for name, data in files.items():
        store.write(settings.datasets_container, f"{project}/{name}", data)
    builder = DatasetBuilder(store, settings, persist=False)
    return builder.publish(builder.build(project))


def kernels(checkpoint: Path | str, part: str) -> dict[str, np.ndarray]:
    """The convolution and dense kernels under `part` in a checkpoint (optimizer slots left out)."""
    from trainer_image.tf_compat import tf

    reader = tf.train.load_checkpoint(str(checkpoint))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if part in n and "OPTIMIZER" not in n and n.endswith("kernel/.ATTRIBUTES/VARIABLE_VALUE")}
