"""The composition root: builds every adapter from settings, once per worker process."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared import logs
from shared.adapters.azure_storage import AzureBlobStore, AzureTableStore
from shared.adapters.chat_webhook import WebhookNotifier
from shared.adapters.storage_registry import StorageRegistry
from shared.pipeline.approve import Approve
from shared.pipeline.complete_run import CompleteRun
from shared.pipeline.dead_letters import DeadLetters
from shared.pipeline.ingest import Ingestor
from shared.pipeline.labelling import Labelling
from shared.pipeline.labelling_tool import LabellingToolSync
from shared.pipeline.reconcile import Reconciler
from shared.pipeline.release import Release
from shared.pipeline.status import ProjectStatus
from shared.pipeline.submit import SubmitTraining
from shared.pipeline.sweep import FindLostChanges
from shared.ports import BlobStore, ModelRegistry, Notifier, OnlineEndpoints, TableStore, TrainingBackend
from shared.ratelimit import FailureLimit
from shared.settings import Settings, SettingsError


@dataclass
class Services:
    settings: Settings
    blobs: BlobStore
    tables: TableStore
    training: TrainingBackend | None = None
    serving: OnlineEndpoints | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    """What the timers take as now (local mode's chaos soak skews it for one tick)."""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def backend(self) -> TrainingBackend:
        """Built on first use: only the timer needs it, and Azure ML's client is slow to import."""
        if self.training is None:
            self.training = _training_backend(self.settings)
        return self.training

    def ingest(self) -> Ingestor:
        if "ingestor" not in self._cache:
            self._cache["ingestor"] = Ingestor(self.tables, self.settings)
        return self._cache["ingestor"]

    def find_lost_changes(self) -> FindLostChanges:
        return FindLostChanges(self.blobs, self.tables, self.settings)

    def submit(self, *, can_submit: bool = True) -> SubmitTraining:
        """The status endpoint reads state only (`can_submit=False`) and never builds the Azure ML client."""
        return SubmitTraining(self.blobs, self.tables, self.backend() if can_submit else None, self.settings)

    def registry(self) -> ModelRegistry:
        """Azure ML's registry next to Azure ML training; the storage-backed twin in local mode."""
        if "registry" not in self._cache:
            if self.settings.training_backend == "azureml":
                from shared.adapters.azureml_registry import AzureMLRegistry
                from shared.adapters.azureml_training import ml_client

                self._cache["registry"] = AzureMLRegistry(ml_client(self.settings))
            else:
                self._cache["registry"] = StorageRegistry(self.tables)
        return self._cache["registry"]

    def endpoints(self) -> OnlineEndpoints:
        """Azure ML online endpoints; local mode installs its local endpoints (`serving`) itself."""
        if self.serving is None:
            if self.settings.training_backend != "azureml":
                raise SettingsError("no local endpoints wired: local mode (python -m local_mode) provides them")
            from shared.adapters.azureml_endpoint import AzureMLEndpoints
            from shared.adapters.azureml_training import ml_client

            self.serving = AzureMLEndpoints(ml_client(self.settings), self.settings, blobs=self.blobs)
        return self.serving

    def project_status(self) -> ProjectStatus:
        """Reads only: never builds the Azure ML client."""
        return ProjectStatus(self.submit(can_submit=False), self.release(), _timeline_query())

    def release(self) -> Release:
        return Release(self.tables, self.blobs, self.settings, self.endpoints, self.registry, self.notifier())

    def notifier(self) -> Notifier | None:
        """The approval channel (Teams or Slack incoming webhook), when one is configured."""
        url = self.settings.approval_webhook_url
        return WebhookNotifier(url) if url else None

    def approve(self) -> Approve:
        return Approve(self.tables, self.settings, self.blobs, self.notifier(), self.registry, self.release)

    def complete_run(self) -> CompleteRun:
        return CompleteRun(self.tables, self.settings, self.blobs, self.registry, self.notifier(), self.release)

    def approval_failures(self) -> FailureLimit:
        """Refused approval links per client: the route is public (the signed link is the credential)."""
        if "approval_failures" not in self._cache:
            self._cache["approval_failures"] = FailureLimit(failures=10, window=60.0)
        return self._cache["approval_failures"]

    def labelling(self) -> Labelling:
        return Labelling(self.tables, self.blobs, self.settings, self.notifier(), self.labelling_tool())

    def labelling_tool(self) -> LabellingToolSync | None:
        """The team's Label Studio when LABEL_STUDIO_URL is set; its webhook calls this app's route. One per worker:
        its access token and connections serve every webhook call instead of a token refresh each."""
        s = self.settings
        if not s.label_studio_url:
            return None
        if "labelling_tool" not in self._cache:
            from shared.adapters.label_studio import LabelStudio

            tool = LabelStudio(s.label_studio_url, s.label_studio_token or "")
            self._cache["labelling_tool"] = LabellingToolSync(
                self.tables, self.blobs, s, tool,
                lambda project: s.public_url(f"/api/labelling/{project}/label-studio"))
        return self._cache["labelling_tool"]

    def dead_letters(self) -> DeadLetters:
        from shared.adapters.event_grid import envelope

        return DeadLetters(self.blobs, self.ingest(), self.settings, envelope)

    def reconcile(self) -> Reconciler:
        return Reconciler(self.tables, self.settings, self.backend(), self.complete_run())


@functools.cache
def _timeline_query() -> str | None:
    """The batch-timeline query deployed with the app (.funcignore keeps infra/monitoring/)."""
    path = Path(__file__).resolve().parent.parent / "infra" / "monitoring" / "queries" / "batch-timeline.kql"
    return path.read_text() if path.is_file() else None


def _training_backend(settings: Settings) -> TrainingBackend:
    if settings.training_backend == "azureml":
        from shared.adapters.azureml_training import AzureMLTraining

        return AzureMLTraining.from_settings(settings)
    raise SettingsError(
        f"TRAINING_BACKEND={settings.training_backend!r}: the function app trains with 'azureml'; local mode "
        "wires the local trainer itself (python -m local_mode)"
    )


_override: Services | None = None


@functools.cache
def _from_environment() -> Services:
    settings = Settings.from_env()
    logs.attach(settings.log_level)  # never replace the worker's handlers: they carry the invocation id
    return Services(settings, AzureBlobStore.from_settings(settings), AzureTableStore.from_settings(settings))


def services() -> Services:
    """The wired services; local mode and tests may install their own with `use()`."""
    return _override or _from_environment()


def use(custom: Services | None) -> None:
    global _override
    _override = custom
