"""What a release watches around its switch, from what the slots answered: the shadow figures (a new slot's answers
to mirrored requests paired with the live model's answers to the same images) and a slot's health (errors, p95
latency, answers with nothing found). Pure: answers in, figures and verdicts out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.labelling.collected import CollectedRows, Detection, detection_of
from shared.labelling.selection import iou

MATCH_IOU = 0.5


@dataclass(frozen=True)
class Answer:
    """One request as a slot answered it: the image's hash (what pairs a mirrored copy with the live request),
    HTTP status, latency and the detections returned (above the request's threshold)."""

    image: str
    status: int
    latency_ms: float
    detections: tuple[Detection, ...] = ()
    time: str = ""
    """When it was answered (ISO, UTC)."""


@dataclass(frozen=True)
class Limits:
    max_error_share: float
    max_p95_ms: float
    max_no_detection_share: float
    min_requests: int


@dataclass(frozen=True)
class SlotHealth:
    requests: int = 0
    errors: int = 0
    p95_ms: float | None = None
    no_detection: int = 0
    """Answered 200 with no detection."""
    first_failure: str = ""
    """When the first failed request was answered (ISO; empty: none failed)."""

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def no_detection_share(self) -> float:
        answered = self.requests - self.errors
        return self.no_detection / answered if answered else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "error_share": round(self.error_share, 4),
                "p95_ms": self.p95_ms, "no_detection_share": round(self.no_detection_share, 4)}


def health_of(answers: Iterable[Answer]) -> SlotHealth:
    answers = list(answers)
    errors = sum(a.status >= 500 for a in answers)
    latencies = [a.latency_ms for a in answers]
    return SlotHealth(requests=len(answers), errors=errors, p95_ms=percentile(latencies, 95),
                      no_detection=sum(a.status < 400 and not a.detections for a in answers),
                      first_failure=min((a.time for a in answers if a.status >= 500 and a.time), default=""))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (what a p95 of a few dozen requests can honestly say)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, -(-len(ordered) * q // 100) - 1)], 2)


def health_problem(health: SlotHealth, limits: Limits, no_detection: bool = True) -> str | None:
    """Why the slot is unhealthy, or None; too few requests to judge is healthy (it says so elsewhere)."""
    if health.requests < limits.min_requests:
        return None
    if health.error_share > limits.max_error_share:
        return (f"{health.errors} of {health.requests} requests failed ({health.error_share:.0%}; the limit is "
                f"{limits.max_error_share:.0%})")
    if health.p95_ms is not None and health.p95_ms > limits.max_p95_ms:
        return f"p95 latency {health.p95_ms:.0f} ms over {health.requests} requests (the limit is " \
               f"{limits.max_p95_ms:.0f} ms)"
    if no_detection and health.no_detection_share > limits.max_no_detection_share:
        return (f"{health.no_detection_share:.0%} of {health.requests - health.errors} answers found nothing (the "
                f"limit is {limits.max_no_detection_share:.0%})")
    return None


@dataclass
class ShadowFigures:
    """The new slot's answers to mirrored requests against the live slot's answers to the same images."""

    paired: int = 0
    agreeing: int = 0
    new: Counter[str] = field(default_factory=Counter)
    """Objects the new model found that the live one did not, per class."""
    lost: Counter[str] = field(default_factory=Counter)
    """Objects the live model found that the new one missed, per class."""
    live_objects: Counter[str] = field(default_factory=Counter)
    """Objects the live model found in the paired requests, per class (what `lost` is a share of)."""
    live: SlotHealth = field(default_factory=SlotHealth)
    shadow: SlotHealth = field(default_factory=SlotHealth)
    live_p50_ms: float | None = None
    shadow_p50_ms: float | None = None

    @property
    def agreement(self) -> float | None:
        return self.agreeing / self.paired if self.paired else None

    def as_dict(self) -> dict[str, Any]:
        return {"paired": self.paired, "agreeing": self.agreeing,
                "agreement": None if self.agreement is None else round(self.agreement, 4),
                "new": dict(sorted(self.new.items())), "lost": dict(sorted(self.lost.items())),
                "live_objects": dict(sorted(self.live_objects.items())),
                "live": self.live.as_dict() | {"p50_ms": self.live_p50_ms},
                "shadow": self.shadow.as_dict() | {"p50_ms": self.shadow_p50_ms}}


def compare(live: Iterable[Answer], shadow: Iterable[Answer]) -> ShadowFigures:
    """Pair each answered mirrored request with a live answer to the same image; count where they agree."""
    live, shadow = list(live), list(shadow)
    by_image = {a.image: a for a in live if a.status < 400}
    figures = ShadowFigures(live=health_of(live), shadow=health_of(shadow),
                            live_p50_ms=percentile([a.latency_ms for a in live], 50),
                            shadow_p50_ms=percentile([a.latency_ms for a in shadow], 50))
    for answer in shadow:
        match = by_image.get(answer.image)
        if match is None or answer.status >= 400:
            continue
        lost, new = unmatched(match.detections, answer.detections)
        figures.paired += 1
        figures.agreeing += not lost and not new
        figures.lost.update(d.label for d in lost)
        figures.new.update(d.label for d in new)
        figures.live_objects.update(d.label for d in match.detections)
    return figures


def unmatched(before: tuple[Detection, ...], after: tuple[Detection, ...]) -> tuple[list[Detection], list[Detection]]:
    """Detections of `before` with no same-class match (IoU >= 0.5) in `after`, and the reverse; greedy, best
    overlap first."""
    pairs = sorted(((iou(a.box, b.box), i, j) for i, a in enumerate(before) for j, b in enumerate(after)
                    if a.label == b.label), reverse=True)
    used_before, used_after = set(), set()
    for overlap, i, j in pairs:
        if overlap >= MATCH_IOU and i not in used_before and j not in used_after:
            used_before.add(i)
            used_after.add(j)
    return ([d for i, d in enumerate(before) if i not in used_before],
            [d for j, d in enumerate(after) if j not in used_after])


@dataclass(frozen=True)
class ShadowRules:
    min_agreement: float
    max_class_loss: float
    """Largest share of a class's live objects the new model may miss."""
    min_class_objects: int
    """Fewest live objects of a class for its loss to be judged."""


def shadow_problem(figures: ShadowFigures, limits: Limits, rules: ShadowRules) -> str | None:
    """Why the switch must not go ahead, or None (no paired request is decided by the caller's rule). The live
    model is not the truth — a better model finds other objects — so the rules catch gross changes: a failing
    slot, a class mostly lost, answers that rarely agree at all; the figures are there for people to judge."""
    unhealthy = health_problem(figures.shadow, limits, no_detection=False)
    if unhealthy:
        return f"the new slot under mirrored traffic: {unhealthy}"
    for label, found in sorted(figures.live_objects.items(), key=lambda kv: -figures.lost[kv[0]] / kv[1]):
        if found >= rules.min_class_objects and figures.lost[label] / found > rules.max_class_loss:
            return (f"the new model missed {figures.lost[label]} of the {found} {label} objects the live one found "
                    f"({figures.lost[label] / found:.0%}; at most {rules.max_class_loss:.0%} may be missed)")
    min_agreement = rules.min_agreement
    if figures.agreement is not None and figures.agreement < min_agreement:
        changed = ", ".join(f"{label} {-n:+d}" for label, n in figures.lost.most_common(3))
        changed += (", " if changed and figures.new else "") + ", ".join(
            f"{label} {n:+d}" for label, n in figures.new.most_common(3))
        return (f"the new model agreed with the live one on {figures.agreeing} of {figures.paired} mirrored requests "
                f"({figures.agreement:.0%}; at least {min_agreement:.0%} needed): objects {changed}")
    return None


def answers_of(rows: CollectedRows) -> Iterator[Answer]:
    """A slot's answers from its collected rows (model_outputs joined to model_inputs by request id); rows that
    cannot be read are left out and named in `rows.problems`."""
    for request_id, output in rows.outputs.items():
        try:
            raw = output.get("detections") or "[]"
            found = json.loads(raw) if isinstance(raw, str) else raw
            yield Answer(image=str((rows.inputs.get(request_id) or {}).get("image_sha256") or request_id),
                         status=int(output.get("status") or 200), latency_ms=float(output.get("latency_ms") or 0.0),
                         time=rows.times.get(request_id, ""),
                         detections=tuple(detection_of(d) for d in found))
        except (ValueError, KeyError, TypeError) as exc:
            rows.problems.append(f"request {request_id}: {exc}")


def shadow_summary(shadow: dict[str, Any] | None) -> str:
    """The shadow step in a line (its figures as `ShadowFigures.as_dict` and the verdict, or a sentence)."""
    if not shadow:
        return "—"
    if "paired" not in shadow:
        return str(shadow.get("verdict", ""))
    changes = [f"{label} -{n}" for label, n in (shadow.get("lost") or {}).items()] + [
        f"{label} +{n}" for label, n in (shadow.get("new") or {}).items()]
    live, new, agreement = shadow.get("live") or {}, shadow.get("shadow") or {}, shadow.get("agreement")
    parts = [f"agreed on {shadow['agreeing']} of {shadow['paired']} mirrored requests"
             + (f" ({agreement:.0%})" if isinstance(agreement, (int, float)) else ""),
             "objects " + ", ".join(changes) if changes else "no object lost or new",
             f"p50 {_ms(live.get('p50_ms'))} live, {_ms(new.get('p50_ms'))} new; {new.get('errors', 0)} failed"]
    if shadow.get("verdict"):
        parts.append(str(shadow["verdict"]).split(":")[0])
    return "; ".join(parts)


def health_summary(health: dict[str, Any] | None) -> str:
    """A slot's health (`SlotHealth.as_dict`) in a line."""
    if not health:
        return "—"
    if "requests" not in health:
        return str(health.get("summary", ""))
    return (f"{health['requests']} requests, {health.get('errors', 0)} failed, p95 {_ms(health.get('p95_ms'))}, "
            f"{health.get('no_detection_share', 0):.0%} found nothing")


def _ms(value: Any) -> str:
    return f"{value:.0f} ms" if isinstance(value, (int, float)) else "—"
