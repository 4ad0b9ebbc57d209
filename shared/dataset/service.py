"""Validate a project's blobs, quarantine what is bad, and publish the manifest of what is good."""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shared.dataset.images import ImageFacts, inspect_image
from shared.dataset.label_map import LabelMap
from shared.dataset.layout import Layout, Pairing, class_from_filename, discover
from shared.dataset.manifest import BlobRef, Entry, build_manifest, manifest_bytes
from shared.dataset.problems import Problem, Rejected
from shared.dataset.records import Record, build_record
from shared.dataset.validation_report import DatasetReport
from shared.dataset.voc import parse_voc
from shared.ports import Blob, BlobStore, NotFound
from shared.settings import Settings

log = logging.getLogger(__name__)

LATEST_POINTER = "latest.json"


@dataclass
class DatasetBuild:
    manifest: dict[str, Any]
    manifest_bytes: bytes
    report: DatasetReport


@dataclass
class _Outcome:
    entry: Entry | None = None
    rejected: list[tuple[Blob, Problem]] | None = None
    warnings: list[Problem] | None = None
    ignored: list[Problem] | None = None


def manifest_blob_name(project: str, version: str) -> str:
    return f"{project}/{version}.json"


class DatasetBuilder:
    """Reads one project folder through the BlobStore port; owns no Azure or TensorFlow code."""

    def __init__(self, store: BlobStore, settings: Settings, *, workers: int = 8) -> None:
        self.store = store
        self.settings = settings
        self.workers = workers

    def build(self, project: str, previous_label_map: LabelMap | None = None) -> DatasetBuild:
        prefix = f"{project.strip('/')}/"
        layout = discover(list(self.store.list(self.settings.datasets_container, prefix)), prefix)
        report = DatasetReport(project, layout.kind, layout.default_class_source)
        report.ignored.extend(Problem(blob.name, "file", why, "warning") for blob, why in layout.ignored)
        config = self._config(layout, report)
        report.class_source = config.get("class_source", layout.default_class_source)
        fraction = float(config.get("validation_fraction", self.settings.validation_fraction))
        user_map = self._user_label_map(layout, prefix, report)
        class_of = self._class_policy(report.class_source, user_map)

        with ThreadPoolExecutor(self.workers) as pool:
            outcomes = list(pool.map(lambda p: self._check_pair(p, prefix, class_of, report), layout.pairs))
        entries = [o.entry for o in outcomes if o.entry]
        for outcome in outcomes:
            report.warnings.extend(outcome.warnings or [])
            report.ignored.extend(outcome.ignored or [])
            for blob, problem in outcome.rejected or []:
                self._quarantine(blob, problem, project, report)

        label_map = self._label_map(previous_label_map, user_map, entries, report)
        manifest = build_manifest(
            project=project, container=self.settings.datasets_container, prefix=prefix,
            entries=entries, label_map=label_map, validation_fraction=fraction,
        )
        report.dataset_version = manifest["dataset_version"]
        report.counts = manifest["counts"]
        report.label_map = manifest["label_map"]
        report.quarantined.sort(key=lambda p: p.file)
        report.warnings.sort(key=lambda p: (p.file, p.field))
        report.ignored.sort(key=lambda p: p.file)
        return DatasetBuild(manifest, manifest_bytes(manifest), report)

    def publish(self, build: DatasetBuild) -> str:
        """Write the manifest under its version (idempotent) and point `latest.json` at it."""
        project, version = build.manifest["project"], build.manifest["dataset_version"]
        name = manifest_blob_name(project, version)
        self.store.ensure_container(self.settings.manifests_container)
        self.store.write(self.settings.manifests_container, name, build.manifest_bytes,
                         content_type="application/json")
        pointer = json.dumps({"dataset_version": version, "manifest": name}).encode()
        self.store.write(self.settings.manifests_container, f"{project}/{LATEST_POINTER}", pointer,
                         content_type="application/json")
        build.report.manifest_blob = f"{self.settings.manifests_container}/{name}"
        log.info("dataset manifest published", extra={"project": project, "dataset_version": version,
                                                      "manifest": name, **build.manifest["counts"]})
        return name

    # -- the steps -----------------------------------------------------------------------------------

    def _read(self, name: str) -> Blob:
        return self.store.read(self.settings.datasets_container, name)

    def _config(self, layout: Layout, report: DatasetReport) -> dict[str, Any]:
        if layout.config is None:
            return {}
        blob = self._read(layout.config.name)
        try:
            config = json.loads(blob.data)
            if not isinstance(config, dict):
                raise Rejected("json", "must be an object")
            if config.get("class_source", "annotation") not in ("annotation", "filename"):
                raise Rejected("class_source", f"{config['class_source']!r} is not 'annotation' or 'filename'")
            fraction = config.get("validation_fraction", 0.2)
            if not isinstance(fraction, int | float) or not 0 <= fraction < 1:
                raise Rejected("validation_fraction", f"{fraction!r} is not a number in [0, 1)")
            return config
        except (ValueError, Rejected) as exc:
            field, reason = (exc.field, exc.reason) if isinstance(exc, Rejected) else ("json", str(exc))
            self._quarantine(blob, Problem(blob.name, field, reason + "; defaults used"), report.project, report)
            return {}

    def _user_label_map(self, layout: Layout, prefix: str, report: DatasetReport) -> LabelMap | None:
        if not layout.label_maps:
            return None
        chosen, *others = sorted(layout.label_maps, key=lambda b: (b.name.count("/"), b.name))
        for other in others:
            report.ignored.append(Problem(other.name, "file", f"only one label map is used: {chosen.name}", "warning"))
        blob = self._read(chosen.name)
        try:
            return LabelMap.parse(blob.data.decode("utf-8"))
        except (Rejected, UnicodeDecodeError) as exc:
            field, reason = (exc.field, exc.reason) if isinstance(exc, Rejected) else ("encoding", str(exc))
            self._quarantine(blob, Problem(blob.name, field, reason + "; classes taken from the annotations"),
                             report.project, report)
            return None

    @staticmethod
    def _class_policy(class_source: str, user_map: LabelMap | None):
        def class_of(name: str) -> str:
            if user_map is not None and name not in user_map.names:
                raise Rejected("name", f"class {name!r} is not in the label map ({', '.join(user_map.names)})")
            return name
        return class_of

    def _check_pair(self, pair: Pairing, prefix: str, class_of, report: DatasetReport) -> _Outcome:
        if len(pair.images) > 1 or len(pair.annotations) > 1:
            names = ", ".join(b.name for b in pair.images + pair.annotations)
            blobs = [self._read(b.name) for b in pair.images + pair.annotations]
            return _Outcome(rejected=[(b, Problem(b.name, "file", f"ambiguous: these files share one name: {names}"))
                                      for b in blobs])
        image = pair.images[0] if pair.images else None
        annotation = pair.annotations[0] if pair.annotations else None
        if image is None:
            blob = self._read(annotation.name)
            return _Outcome(rejected=[(blob, Problem(blob.name, "filename", "no image found for this annotation "
                                                     "(looked for the same name with .jpg, .jpeg or .png)"))])
        if annotation is None and report.class_source == "filename":
            return _Outcome(ignored=[Problem(image.name, "annotation", "no annotation: the class-in-file-name "
                                             "layout needs boxes, so this image is not used", "warning")])
        try:
            image_blob = self._read(image.name)
        except NotFound:
            return _Outcome(ignored=[Problem(image.name, "file", "deleted while the dataset was read", "warning")])
        annotation_blob = self._read(annotation.name) if annotation else None
        return self._check_files(image_blob, annotation_blob, prefix, class_of, report)

    def _check_files(self, image: Blob, annotation: Blob | None, prefix: str, class_of, report) -> _Outcome:
        try:
            facts = inspect_image(image.data, max_pixels=self.settings.max_image_pixels,
                                  max_bytes=self.settings.max_image_bytes)
        except Rejected as exc:
            rejected = [(image, Problem(image.name, exc.field, exc.reason))]
            if annotation:
                rejected.append((annotation, Problem(annotation.name, "filename",
                                                     f"its image {image.name} was rejected: {exc.reason}")))
            return _Outcome(rejected=rejected)
        if annotation is None:  # a background image: no objects
            return _Outcome(entry=self._entry(image, facts, None, Record(facts.width, facts.height, ()), prefix))
        relative = image.name[len(prefix):]
        policy = (lambda _name: class_of(class_from_filename(relative))) if report.class_source == "filename" \
            else class_of
        try:
            record = build_record(parse_voc(annotation.data, max_bytes=self.settings.max_annotation_bytes),
                                  facts, policy)
        except Rejected as exc:
            return _Outcome(rejected=[
                (annotation, Problem(annotation.name, exc.field, exc.reason)),
                (image, Problem(image.name, "annotation", f"its annotation {annotation.name} was rejected: "
                                                          f"[{exc.field}] {exc.reason}")),
            ])
        notes = [Problem(annotation.name, f, m, "warning") for f, m in record.notes]
        return _Outcome(entry=self._entry(image, facts, annotation, record, prefix), warnings=notes)

    @staticmethod
    def _entry(image: Blob, facts: ImageFacts, annotation: Blob | None, record: Record, prefix: str) -> Entry:
        def ref(blob: Blob) -> BlobRef:
            return BlobRef(blob.name, blob.etag, hashlib.md5(blob.data).hexdigest(), len(blob.data))

        return Entry(image.name[len(prefix):], ref(image), facts.format, ref(annotation) if annotation else None,
                     record, facts.orientation)

    def _label_map(self, previous: LabelMap | None, user: LabelMap | None, entries: list[Entry],
                   report: DatasetReport) -> LabelMap:
        label_map = previous or LabelMap()
        if user is not None:
            for item in user.items:
                kept = label_map.id_of(item.name)
                if kept is not None and kept != item.id:
                    report.warnings.append(Problem("pascal_label_map.pbtxt", f"item {item.name!r}/id",
                                                   f"keeps id {kept} from earlier dataset versions "
                                                   f"(the file says {item.id}); ids never change", "warning"))
            label_map = label_map.merged(user) if previous else user
        seen = sorted({box.name for e in entries for box in e.record.boxes})
        return label_map.extended(seen)

    def _quarantine(self, blob: Blob, problem: Problem, project: str, report: DatasetReport) -> None:
        """Copy (never move) the file and its reason to the quarantine container."""
        container = self.settings.quarantine_container
        self.store.ensure_container(container)
        self.store.write(container, blob.name, blob.data)
        reason = problem.to_dict() | {
            "source_container": self.settings.datasets_container,
            "etag": blob.etag,
            "md5": hashlib.md5(blob.data).hexdigest(),
            "size": len(blob.data),
        }
        self.store.write(container, blob.name + ".reason.json",
                         json.dumps(reason, indent=1, sort_keys=True).encode(), content_type="application/json")
        report.quarantined.append(problem)
        log.warning("file quarantined", extra={"project": project, "file": blob.name, "field": problem.field,
                                                "reason": problem.reason,
                                                "quarantine": posixpath.join(container, blob.name)})
