"""What the core registers: a model that passed its gates, with its lineage, waiting for a person's approval."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: str
    state: str
    created: bool
    """False when this run's model was already registered (a redelivered completion)."""
