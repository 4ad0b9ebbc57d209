"""Use cases of the labelling loop: export what the live model is unsure about for people to label, and watch
production drift away from the images the model was gated on. Both read the endpoint's collected requests, which
the data collector (Azure ML's, or local mode's twin) writes under `<endpoint>/<slot>/<collection>/yyyy/MM/dd/HH/`
in the inference-data container; neither keeps a second copy of them."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import logs
from shared.clock import day_of, from_iso, iso
from shared.dataset.label_map import LabelMap
from shared.labelling.collected import INPUTS, OUTPUTS, CollectedRows
from shared.labelling.drift import DriftLimits, Profile, compare, profile
from shared.labelling.export_files import ARCHIVE, EXPORT_FORMATS, MANIFEST, ExportHeader, export_files, zipped
from shared.labelling.selection import SelectionPolicy, kind_of, policy_for, select
from shared.pipeline.labelling_tool import LabellingToolSync
from shared.pipeline.records import ProjectState, Records, ReleaseState
from shared.ports import ApprovalNotice, BlobStore, NotFound, Notifier, PreconditionFailed, TableStore
from shared.serving import endpoint_name
from shared.settings import Settings

log = logging.getLogger(__name__)

SLOTS = ("blue", "green")
READERS = 8
BASELINE_FILE = "baseline.json"
"""Written by the trainer beside the model: the drift profile of its validation images."""


class CollectedData:
    """The collector's files of one endpoint, read day folder by day folder."""

    def __init__(self, blobs: BlobStore, settings: Settings) -> None:
        self.blobs, self.container = blobs, settings.inference_data_container

    def read(self, endpoint: str, start: datetime, end: datetime, after: str = "",
             collections: tuple[str, ...] = (INPUTS, OUTPUTS), slots: tuple[str, ...] = SLOTS) -> CollectedRows:
        """Rows collected in the hours from `start` to `end` (inclusive), later than `after`; files are fetched
        a few at a time (Blob latency, not bandwidth, bounds one at a time)."""
        rows, first, last = CollectedRows(), f"{start:%Y/%m/%d/%H}", f"{end:%Y/%m/%d/%H}"
        wanted = [(info.name, collection) for day in _days(start, end) for slot in slots
                  for collection in collections
                  for info in self.blobs.list(self.container, f"{endpoint}/{slot}/{collection}/{day:%Y/%m/%d}/")
                  if first <= "/".join(info.name.split("/")[3:7]) <= last]
        with ThreadPoolExecutor(READERS) as pool:
            for (name, collection), data in zip(wanted, pool.map(self._read, (n for n, _ in wanted)), strict=True):
                rows.add_file(name, collection, data, after)
        return rows

    def _read(self, name: str) -> bytes:
        return self.blobs.read(self.container, name).data


def _days(start: datetime, end: datetime) -> Iterator[datetime]:
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= end:
        yield day
        day += timedelta(days=1)


class Labelling:
    """Export for labelling (timer, HTTP route, local command) and the daily drift watch."""

    def __init__(self, tables: TableStore, blobs: BlobStore, settings: Settings,
                 notifier: Notifier | None = None, tool: LabellingToolSync | None = None) -> None:
        self.blobs, self.settings, self.notifier, self.tool = blobs, settings, notifier, tool
        self.records = Records(tables, settings)
        self.collected = CollectedData(blobs, settings)

    def policy(self, project: str) -> SelectionPolicy:
        s = self.settings
        default = SelectionPolicy(score_threshold=s.labelling_score_threshold, band_low=s.labelling_band_low,
                                  band_high=s.labelling_band_high, confident_share=s.labelling_confident_share,
                                  max_images=s.labelling_max_images,
                                  pre_annotation_score=s.labelling_pre_annotation_score,
                                  export_format=s.labelling_export_format)
        policy = policy_for(project, default, s.labelling_overrides)
        if self.tool is not None:  # the team labels in Label Studio: the export is its tasks, pushed there
            policy = replace(policy, export_format="label-studio")
        if policy.export_format not in EXPORT_FORMATS:
            raise ValueError(f"LABELLING_EXPORT_FORMAT / LABELLING_OVERRIDES[{project!r}]: {policy.export_format!r} "
                             f"is not one of {', '.join(EXPORT_FORMATS)}")
        return policy

    def live_projects(self) -> list[ReleaseState]:
        return [r for r in self.records.releases() if r.live_model_version]

    def export(self, project: str, now: datetime | None = None) -> dict[str, Any]:
        """Pick the live model's uncertain images collected since the last export and write them, pre-annotated,
        to `<labelling container>/<project>/<export id>/`; the summary says what was written and why."""
        now = now or datetime.now(UTC)
        release = self.records.release(project)
        if not release.live_model_version:
            return {"project": project, "exported": 0, "reason": "no live model: nothing has been collected"}
        state = self.records.project(project)
        with logs.correlation(project=project, model_version=release.live_model_version):
            earliest = now - timedelta(days=self.settings.labelling_lookback_days)
            start = max([from_iso(t) for t in (state.labelled_until, release.live_since) if t] + [earliest])
            rows = self.collected.read(endpoint_name(self.settings, project), start, now, state.labelled_until)
            samples = list(rows.samples(release.live_model_version))  # not a new slot's answer to a mirrored copy
            policy = self.policy(project)
            export_id = f"{now:%Y%m%dT%H%M%SZ}-v{release.live_model_version}"
            picks, skipped = select(samples, policy, seed=f"{project}/{export_id}")
            summary: dict[str, Any] = {"project": project, "export_id": export_id, "model_version":
                                       release.live_model_version, "requests": len(samples), "exported": 0,
                                       "skipped": len(skipped), "unreadable": rows.problems[:20]}
            if skipped and not picks:  # with picks, export.json lists every skip
                summary["skipped_examples"] = [skip.__dict__ for skip in skipped[:20]]
            if picks:
                summary |= self._write(project, export_id, release, rows, picks, skipped, policy, now)
            else:
                summary["reason"] = f"none of {len(samples)} requests since {iso(start)} needed labels"
            self._advance(project, rows.latest, summary)
            for problem in rows.problems[:20]:
                log.warning("collected row unreadable", extra={"problem": problem})
            log.info("labelling export", extra={k: v for k, v in summary.items() if k != "unreadable"})
            return summary

    def _write(self, project: str, export_id: str, release: ReleaseState, rows: CollectedRows, picks: list,
               skipped: list, policy: SelectionPolicy, now: datetime) -> dict[str, Any]:
        container, folder = self.settings.labelling_container, f"{project}/{export_id}/"
        self.blobs.ensure_container(container)
        header = ExportHeader(project, export_id, release.live_model_name, release.live_model_version, iso(now),
                              since=min((p.sample.time for p in picks), default=""), until=rows.latest)
        labels = self._labels(release)
        files = list(export_files(header, picks, skipped, labels, policy))
        self.blobs.write(container, folder + ARCHIVE, zipped(files), content_type="application/zip")
        # beside the zip, last: its presence marks the export complete, and it can be read without unpacking
        self.blobs.write(container, folder + MANIFEST, files[-1][1], content_type="application/json")
        written = json.loads(files[-1][1])["images"]
        reasons = Counter(kind_of(reason) for p in picks for reason in p.reasons)
        result = {"exported": written, "skipped": len(skipped), "folder": f"{container}/{folder}",
                  "archive": f"{container}/{folder}{ARCHIVE}", "reasons": dict(reasons)}
        if self.tool is not None:
            result["labelling_tool"] = self.tool.push(project, folder)
        self._notify(project, export_id, written, result)
        return result

    def _model_file(self, release: ReleaseState, name: str) -> bytes | None:
        """A file the trainer packaged with the live model (None when that model has none)."""
        try:
            return self.blobs.read(self.settings.models_container,
                                   f"{release.live_model_folder.rstrip('/')}/{name}").data
        except NotFound:
            return None

    def _labels(self, release: ReleaseState) -> list[str]:
        text = self._model_file(release, "label_map.pbtxt")
        return LabelMap.parse(text.decode()).names if text else []

    def _notify(self, project: str, export_id: str, images: int, result: dict[str, Any]) -> None:
        if self.notifier is None:
            return
        base = (self.settings.blob_service_uri or "").rstrip("/")
        facts = [("Project", project), ("Export", export_id)] + [(k, str(v)) for k, v in result["reasons"].items()]
        tool = result.get("labelling_tool") or {}
        if tool.get("tool_project"):  # straight to the tasks, least sure first
            notice = ApprovalNotice(f"{images} images need labels ({project})", "Production images the live model "
                                    "is unsure about, its boxes drawn, are at the top of the Label Studio project.",
                                    facts, tool["tool_project"], action="Open in Label Studio")
        else:
            link = f"{base}/{result['archive']}" if base else result["archive"]
            notice = ApprovalNotice(f"{images} images need labels ({project})", "Production images the live model "
                                    f"is unsure about, pre-annotated ({self.policy(project).export_format} export): "
                                    f"{result['archive']}", facts, link, action="Download the export")
        try:
            self.notifier.notify(notice)
        except Exception as exc:  # the export is written; a chat outage must not undo it
            log.warning("labelling notification failed", extra={"error": str(exc)})

    def _advance(self, project: str, latest: str, summary: dict[str, Any]) -> None:
        def change(state: ProjectState) -> None:
            state.labelled_until = max(state.labelled_until, latest)
            state.last_export = json.dumps({k: v for k, v in summary.items() if k != "unreadable"})

        self._note(project, change, "record the labelling export")

    def _note(self, project: str, change: Callable[[ProjectState], None], what: str) -> None:
        """Apply `change` to the project's state row, creating the row if the project has none yet."""
        if self.records.change_project(project, change, what) is not None:
            return
        state = ProjectState(project=project)
        change(state)
        try:
            self.records.save_project(state)
        except PreconditionFailed:  # created in between: change that one
            self.records.change_project(project, change, what)

    def watch_drift(self, project: str, day: str, now: datetime | None = None) -> dict[str, Any]:
        """One day of production against the live model's validation profile: figures, changes, warnings."""
        release = self.records.release(project)
        result: dict[str, Any] = {"project": project, "day": day, "model_version": release.live_model_version}
        with logs.correlation(project=project, model_version=release.live_model_version):
            baseline = self._baseline(release)
            if baseline is None:
                result["reason"] = "the live model has no validation profile (trained before drift watching)"
                self._note(project, lambda state: setattr(state, "drift", json.dumps(result)), "record the drift watch")
                log.info("drift not watched", extra=result)
                return result
            start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
            rows = self.collected.read(endpoint_name(self.settings, project), start, start + timedelta(hours=23),
                                       collections=(OUTPUTS,))  # what the model saw is enough: no images read
            today = profile(([(d.label, d.score) for d in found] for found in
                             rows.detections_of(release.live_model_version)), baseline.threshold)
            changes, warnings = compare(baseline, today, self._limits())
            result |= {"production": today.to_dict(), "validation": baseline.to_dict(), "changes": changes,
                       "warnings": warnings, "checked_at": iso(now or datetime.now(UTC))}
            self._note(project, lambda state: setattr(state, "drift", json.dumps(result)), "record the drift watch")
            log.info("drift watched", extra={k: result[k] for k in ("day", "changes", "warnings")} |
                     {"images": today.images})
            for warning in warnings:
                log.warning("drift detected", extra={"day": day, "warning": warning})
            return result

    def _limits(self) -> DriftLimits:
        s = self.settings
        return DriftLimits(s.drift_max_no_detection_change, s.drift_max_top_score_change,
                           s.drift_max_class_mix_change, s.drift_min_images)

    def _baseline(self, release: ReleaseState) -> Profile | None:
        raw = self._model_file(release, BASELINE_FILE)
        return Profile.from_dict(json.loads(raw)) if raw else None

    def daily(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """The timer: each live project's export, and its drift watch for yesterday (UTC)."""
        now = now or datetime.now(UTC)
        yesterday = day_of(now - timedelta(days=1))
        results = self.tool.retry_pending() if self.tool is not None else []
        for release in self.live_projects():
            try:
                results.append(self.export(release.project, now))
                results.append(self.watch_drift(release.project, yesterday, now))
            except Exception:  # one project's trouble must not stop the others'
                log.exception("labelling failed", extra={"project": release.project})
        return results
