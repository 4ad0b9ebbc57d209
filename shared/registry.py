"""What the core registers: a model that passed its gates, with its lineage, waiting for a person's approval."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.naming import ASSET, azure_name

PENDING_APPROVAL = "pending-approval"


def model_name_for(project: str) -> str:
    """`tfod-<project>`, cleaned to Azure ML's asset-name rule (with a hash when it had to change)."""
    return azure_name(f"tfod-{project}", ASSET)


@dataclass(frozen=True)
class ModelCandidate:
    project: str
    run_id: str
    batch_id: str
    dataset_version: str
    base_model: str
    model_folder: str
    """Folder of the packaged model in the models container."""
    metrics: dict[str, float | None]
    gate_reasons: list[str] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    """Its exports' files and accuracy against the SavedModel, as export_properties gives them."""

    @property
    def name(self) -> str:
        return model_name_for(self.project)

    def tags(self) -> dict[str, str]:
        """Lineage, as registry tags (strings only)."""
        return {
            "run_id": self.run_id, "batch_id": self.batch_id, "dataset_version": self.dataset_version,
            "base_model": self.base_model, "gates": "passed", "state": PENDING_APPROVAL,
            **{f"metric_{k}": f"{v:.4f}" for k, v in self.metrics.items() if v is not None},
        }

    def properties(self) -> dict[str, str]:
        """What does not change once registered: where the package is, and what each export is and scores."""
        return {"model_folder": self.model_folder, **self.exports}


def export_properties(metrics: dict[str, Any] | None) -> dict[str, str]:
    """Each export of metrics.json as registry properties (strings): `export_<format>_file`, `_bytes`, `_map_50`
    and `_map_50_drop` against the SavedModel on the same images; or `export_<format>_error`."""
    properties: dict[str, str] = {}
    for name, export in sorted(((metrics or {}).get("exports") or {}).items()):
        key = f"export_{name.replace('-', '_')}"
        if "error" in export:
            properties[f"{key}_error"] = str(export["error"])[:500]
            continue
        properties[f"{key}_file"], properties[f"{key}_bytes"] = str(export.get("file")), str(export.get("bytes"))
        parity = export.get("parity") or {}
        for figure in ("map_50", "map_50_drop"):
            if isinstance(parity.get(figure), int | float):
                properties[f"{key}_{figure}"] = f"{parity[figure]:.4f}"
    return properties


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    state: str
    created: bool
    """False when this run's model was already registered (a redelivered completion)."""
