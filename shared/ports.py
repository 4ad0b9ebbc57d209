"""Ports: the small interfaces the core needs from the outside world; adapters implement them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shared.release_watch import Answer


class NotFound(LookupError):
    """The blob or entity asked for does not exist."""


class PreconditionFailed(RuntimeError):
    """An optimistic-concurrency check (ETag, if-none-match) failed: someone else wrote first."""


@dataclass(frozen=True)
class BlobInfo:
    name: str
    etag: str
    size: int
    content_md5: str | None = None


@dataclass(frozen=True)
class Blob:
    name: str
    data: bytes
    etag: str


class BlobStore(Protocol):
    """Blob containers: list, read and write whole blobs."""

    def ensure_container(self, container: str) -> None: ...

    def list(self, container: str, prefix: str = "") -> Iterator[BlobInfo]: ...

    def list_page(self, container: str, prefix: str = "", marker: str | None = None,
                  size: int = 5000) -> tuple[list[BlobInfo], str | None]:
        """One page of `list` (at most `size` blobs, in name order) and the marker of the next page (None after
        the last), so a long listing can be taken in slices."""
        ...

    def top_level_folders(self, container: str) -> list[str]:
        """Names of the first-level virtual folders (the projects of the datasets container)."""
        ...

    def read(self, container: str, name: str) -> Blob:
        """Raise NotFound when the blob does not exist."""
        ...

    def info(self, container: str, name: str) -> BlobInfo | None:
        """The blob's ETag and size without its bytes (None when it does not exist)."""
        ...

    def write(
        self,
        container: str,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        overwrite: bool = True,
    ) -> str:
        """Return the new ETag; with overwrite=False raise PreconditionFailed if the blob exists."""
        ...

    def delete(self, container: str, name: str) -> None: ...


Entity = dict[str, Any]
"""A table row: PartitionKey, RowKey, properties; rows read back carry their ETag under ROW_ETAG."""

ROW_ETAG = "_etag"
"""Key of a row's ETag in rows read back (never written as a property)."""


class TableStore(Protocol):
    """Tables with optimistic concurrency, the state store of the event core."""

    def ensure_table(self, table: str) -> None: ...

    def get(self, table: str, partition_key: str, row_key: str) -> Entity:
        """Raise NotFound when the row does not exist."""
        ...

    def insert(self, table: str, entity: Mapping[str, Any]) -> str:
        """Create the row; raise PreconditionFailed if it exists. Return its ETag."""
        ...

    def upsert(self, table: str, entity: Mapping[str, Any]) -> str: ...

    def update(self, table: str, entity: Mapping[str, Any], etag: str) -> str:
        """Replace the row only if its ETag is still `etag`; raise PreconditionFailed otherwise."""
        ...

    def delete(self, table: str, partition_key: str, row_key: str) -> None: ...

    def query(
        self, table: str, partition_key: str, row_key_prefix: str = "", after: tuple[str, str] | None = None
    ) -> Iterator[Entity]:
        """Rows of one partition; `after=(property, value)` keeps rows whose string property is greater."""
        ...

    def upsert_many(self, table: str, entities: Iterable[Mapping[str, Any]]) -> int:
        """Insert-or-replace rows in transactions of at most 100 per partition; return how many were written."""
        ...


class TrainingBackend(Protocol):
    """Azure ML, or a local trainer process; submission is idempotent on the job name."""

    def submit(self, request: Any) -> Any:
        """Start the run for `request` (a shared.training.TrainingRequest) unless a job of that name exists.

        Return a shared.training.SubmittedRun.
        """
        ...

    def cancel(self, job_name: str) -> None: ...

    def status(self, job_name: str) -> Any:
        """The job as the backend sees it now: a shared.training.JobState ("Lost" when it knows no such job)."""
        ...


class ModelRegistry(Protocol):
    """Azure ML's model registry, or a storage-backed twin; registering the same run twice is a no-op."""

    def register(self, candidate: Any) -> Any:
        """Register a shared.registry.ModelCandidate; return a shared.registry.RegisteredModel."""
        ...

    def set_state(self, name: str, version: str, state: str) -> None:
        """Record a model version's lifecycle state (approved, deployed, deploy-failed, retired, …)."""
        ...


@dataclass(frozen=True)
class ApprovalNotice:
    """What the approval channel is told: a title, a line of summary, key figures and the approval page's link."""

    title: str
    summary: str
    facts: list[tuple[str, str]]
    link: str
    action: str = "Open approval page"
    """The button's text."""


class Notifier(Protocol):
    """A chat channel (Teams or Slack incoming webhook), or nothing."""

    def notify(self, notice: ApprovalNotice) -> None: ...


@dataclass(frozen=True)
class DeploymentSpec:
    """What one blue/green slot serves: a registered model version and where its package lies."""

    project: str
    model_name: str
    model_version: str
    model_folder: str
    """Folder of the packaged model in the models container."""
    runtime: str = ""
    """What runs it, `onnx` or `tensorflow` (shared.serving.served_runtime; empty: SERVING_RUNTIME decides)."""


class OnlineEndpoints(Protocol):
    """A keyed online endpoint per project with named deployments (slots): Azure ML, or the local twin.

    Every call is idempotent, so a timer can drive a release step by step and a crash only repeats a step.
    """

    def provision(self, spec: DeploymentSpec, slot: str) -> str:
        """Create the endpoint (if missing) and the slot's deployment at 0% traffic, or check on them.

        Return "provisioning", "ready", or "failed: <reason>".
        """
        ...

    def invoke(self, project: str, slot: str, body: bytes, content_type: str) -> tuple[int, bytes]:
        """Score through the endpoint, with its key, pinned to one deployment (traffic split ignored)."""
        ...

    def route(self, project: str, traffic: Mapping[str, int], mirror: Mapping[str, int] | None = None) -> None:
        """Set the endpoint's traffic split (percent per slot) and the share of live traffic copied to a slot
        whose answers are not returned (`mirror`; empty or None: no mirroring)."""
        ...

    def answers(self, project: str, slot: str, since: datetime) -> list[Answer]:
        """What the slot answered since `since` (status, latency, detections, image hash): the release's shadow
        comparison and health watch read it."""
        ...

    def remove(self, project: str, slot: str) -> None:
        """Delete a slot's deployment (no error if it is gone)."""
        ...

    def describe(self, project: str) -> dict[str, Any]:
        """Scoring URI, traffic and deployments as the service sees them now (empty if no endpoint)."""
        ...


@dataclass(frozen=True)
class LabellingTask:
    """One image for a person to label: its stable name (what makes a second push a no-op), the image, its rank
    among the export's (1: the model's least sure, labelled first) and the model's boxes to start from."""

    name: str
    image: bytes
    rank: int
    model_version: str
    score: float
    """The pick's uncertainty score (higher: more useful to label)."""
    result: list[dict[str, Any]]
    """The model's boxes as Label Studio rectanglelabels results (percent of the image)."""


@dataclass(frozen=True)
class LabellingProject:
    id: int
    url: str
    """The project's view in the tool, for people (chat cards, status)."""


class LabellingTool(Protocol):
    """A team's labelling tool (Label Studio): a project per service project, kept in step with its label map,
    that tasks are pushed to and whose finished annotations come back by webhook."""

    def ensure_project(self, project: str, labels: list[str]) -> LabellingProject:
        """The project named for `project`, created or its labelling config brought up to `labels`."""
        ...

    def push(self, tool_project: LabellingProject, tasks: list[LabellingTask]) -> dict[str, int]:
        """Add the tasks not already there (by name), in rank order; {"pushed": n, "already_there": m}."""
        ...

    def ensure_webhook(self, tool_project: LabellingProject, url: str, secret: str) -> None:
        """The tool calls `url` with `secret` in a header when an annotation is created, updated or deleted."""
        ...

    def image(self, path: str) -> bytes:
        """The bytes of a task's image, by the path the tool gave it (`/data/upload/...`)."""
        ...
