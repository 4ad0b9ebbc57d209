"""Which production images are worth a person's time: the ones the live model is least sure of, plus a few
confident ones to catch confident mistakes. Pure: samples and a policy in, picks with their reasons out."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from itertools import combinations

from PIL import Image

from shared.labelling.collected import Detection, Sample
from shared.overrides import for_project


@dataclass(frozen=True)
class SelectionPolicy:
    score_threshold: float = 0.5
    """A detection at or above this counts as found (no detection above it: the image is picked)."""
    band_low: float = 0.3
    band_high: float = 0.6
    """A top score inside [band_low, band_high) is uncertain: picked."""
    overlap_iou: float = 0.5
    """Boxes of different classes overlapping at least this much, both above band_low: the model hesitates."""
    confident_share: float = 0.02
    """Share of confident images picked at random (a confident mistake is the costliest kind)."""
    near_duplicate_bits: int = 10
    """Images whose 64-bit difference hashes differ in at most this many bits count as one."""
    max_images: int = 200
    """Cap per export; the least confident first."""
    pre_annotation_score: float = 0.2
    """The model's boxes at or above this are written into the pre-annotation for the person to correct."""
    export_format: str = "pascal-voc"
    """The format the export is written in: the one the project's labelling tool imports."""


def policy_for(project: str, default: SelectionPolicy, overrides_json: str | None) -> SelectionPolicy:
    """The default policy with the project's own values (LABELLING_OVERRIDES: {"project": {"max_images": 50}})."""
    return for_project(project, default, overrides_json, "LABELLING_OVERRIDES")


@dataclass(frozen=True)
class Pick:
    sample: Sample
    reasons: tuple[str, ...]
    priority: float
    """Lower first: missed or uncertain images by their top score (least confident first), then half-seen objects,
    overlapping classes, and the random share of confident images."""


@dataclass(frozen=True)
class Skip:
    image_sha256: str
    request_id: str
    reason: str


def reasons_for(sample: Sample, policy: SelectionPolicy) -> tuple[list[str], float]:
    """Why this image is worth labelling (empty: it is not), and its priority."""
    reasons, priority, top = [], 9.0, sample.top_score
    if top < policy.score_threshold:
        reasons.append(f"no detection at or above {policy.score_threshold:g} (top score {top:.2f})")
        priority = top
    if policy.band_low <= top < policy.band_high:
        reasons.append(f"top score {top:.2f} inside the uncertainty band {policy.band_low:g} to {policy.band_high:g}")
        priority = top
    if top >= policy.band_high and (unsure := _unsure_boxes(sample.detections, policy)):
        reasons.append(f"{len(unsure)} box(es) with scores inside the band and no confident box on them "
                       f"({', '.join(f'{d.label} {d.score:.2f}' for d in unsure[:3])})")
        priority = min(priority, 2.0 - 0.01 * min(len(unsure), 10))
    if clash := _clash(sample.detections, policy):
        reasons.append(clash)
        priority = min(priority, 3.0)
    return reasons, priority


def _unsure_boxes(detections: tuple[Detection, ...], policy: SelectionPolicy) -> list[Detection]:
    """Objects the model half-sees beside the ones it is sure of (a box in the band that only repeats a confident
    box is not a new object)."""
    sure = [d for d in detections if d.score >= policy.band_high]
    return [d for d in detections if policy.band_low <= d.score < policy.band_high
            and all(iou(d.box, s.box) < policy.overlap_iou for s in sure)]


KINDS = {"no detection": "missed", "top score": "uncertain", "box(es)": "uncertain objects",
         "random sample": "confident sample"}


def kind_of(reason: str) -> str:
    """The short name of a reason, for counts: missed, uncertain, uncertain objects, classes overlap, confident
    sample."""
    return next((kind for marker, kind in KINDS.items() if marker in reason.split(" (")[0]), "classes overlap")


def _clash(detections: tuple[Detection, ...], policy: SelectionPolicy) -> str | None:
    seen = [d for d in detections if d.score >= policy.band_low]
    pairs = [(a, b) for a, b in combinations(seen, 2) if a.label != b.label and iou(a.box, b.box) >= policy.overlap_iou]
    if not pairs:
        return None
    labels = sorted({d.label for pair in pairs for d in pair})
    return f"{len(pairs)} overlapping box pair(s) of different classes ({', '.join(labels)})"


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def difference_hash(image: bytes) -> int:
    """64-bit dHash (the algorithm of the `imagehash` package, whose tests pin it): a 9x8 greyscale thumbnail,
    one bit per horizontal neighbour pair. Written here because imagehash needs SciPy, too heavy for the function."""
    with Image.open(io.BytesIO(image)) as opened:
        small = opened.convert("L").resize((9, 8), Image.LANCZOS)
    pixels = list(small.getdata())
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (pixels[row * 9 + col + 1] > pixels[row * 9 + col])
    return bits


def select(samples: list[Sample], policy: SelectionPolicy, seed: str) -> tuple[list[Pick], list[Skip]]:
    """The picks, least confident first, capped; every sample not picked for a reason a person should know
    (no image kept, unreadable, near-duplicate, over the cap) comes back as a skip."""
    rng = random.Random(seed)
    candidates: list[Pick] = []
    skipped: list[Skip] = []
    for sample in sorted(samples, key=lambda s: (s.time, s.request_id)):
        reasons, priority = reasons_for(sample, policy)
        if not reasons and rng.random() < policy.confident_share:
            reasons, priority = [f"random sample of confident images (top score {sample.top_score:.2f})"], 4.0
        if not reasons:
            continue
        if sample.image_base64 is None:  # not `sample.image`: that decodes every candidate's image
            skipped.append(Skip(sample.image_sha256, sample.request_id,
                                f"image of {sample.image_bytes} bytes not kept by the collector (hash only)"))
            continue
        candidates.append(Pick(sample, tuple(reasons), priority))
    return _distinct(sorted(candidates, key=lambda p: (p.priority, p.sample.time)), policy, skipped)


def _distinct(candidates: list[Pick], policy: SelectionPolicy, skipped: list[Skip]) -> tuple[list[Pick], list[Skip]]:
    picks: list[Pick] = []
    hashes: list[tuple[int, str]] = []
    for pick in candidates:
        sample = pick.sample
        if len(picks) >= policy.max_images:
            skipped.append(Skip(sample.image_sha256, sample.request_id, f"over the cap of {policy.max_images}"))
            continue
        try:
            fingerprint = difference_hash(sample.image or b"")
        except (OSError, ValueError) as exc:
            skipped.append(Skip(sample.image_sha256, sample.request_id, f"image cannot be decoded: {exc}"))
            continue
        twin = next((sha for h, sha in hashes if bin(h ^ fingerprint).count("1") <= policy.near_duplicate_bits), None)
        if twin is not None:
            skipped.append(Skip(sample.image_sha256, sample.request_id, f"near-duplicate of {twin[:12]}"))
        else:
            picks.append(pick)
            hashes.append((fingerprint, sample.image_sha256))
    return picks, skipped
