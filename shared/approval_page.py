"""The approval page a person opens from the chat channel: the evidence and two buttons, no JavaScript.

Pure: it renders what the approvals use case gathered (run, metrics against the champion, gate reasons, example
predictions). The form posts back to the same link; the answer to a decision, and every refusal, is a page too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from shared.exports_table import exports_table
from shared.metrics_table import flips_section, metrics_table
from shared.release_watch import shadow_summary

STYLE = """body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto;padding:0 1em;color:#1b1b1b}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
.passed{color:#1b5e20}.failed{color:#b71c1c}.muted{color:#555}.box{border:1px solid #ccc;padding:1em;border-radius:6px}
button{font-size:1.05em;padding:.5em 1.4em;margin-right:1em;border-radius:4px;border:1px solid #333;cursor:pointer}
button.approve{background:#1b5e20;color:#fff}button.reject{background:#fff;color:#b71c1c;border-color:#b71c1c}
input,textarea{font:inherit;padding:4px;width:100%;max-width:420px}img{max-width:100%}"""


@dataclass
class Evidence:
    """What an approver decides on, gathered by the approvals use case."""

    model: str
    version: str
    project: str = ""
    batch_id: str = ""
    dataset_version: str = ""
    expires: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    gates_passed: bool | None = None
    gate_reasons: list[str] = field(default_factory=list)
    examples: list[dict[str, Any]] = field(default_factory=list)
    grid_jpeg: bytes | None = None
    flips_jpeg: bytes | None = None
    """Crops of objects the champion found and this model misses, and the reverse (the trainer's flips.jpg)."""
    release: dict[str, Any] | None = None
    """The version's release when it went ahead of the decision (shadow-then-approve): phase, shadow figures."""
    approver: str | None = None
    """The signed-in person (App Service authentication), when there is one."""
    sign_in: str | None = None
    """Where to sign in, when authentication is configured but the person has not."""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width"><title>{escape(title)}</title><style>{STYLE}</style></head>'
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")


def _golden(metrics: dict[str, Any]) -> str:
    golden = metrics.get("golden")
    if not golden or "error" in golden:
        return ""
    return ("<h2>Golden set (the same images every run, never trained on)</h2>"
            + metrics_table(golden, golden.get("images"), "golden images"))


def _shadow(release: dict[str, Any] | None) -> str:
    """The shadow step on live traffic, when the release went ahead of the decision."""
    if not release:
        return ""
    shadow, phase = release.get("shadow") or {}, release.get("phase")
    if phase in ("requested", "provisioning"):
        state = "The new slot is being deployed; live traffic will be mirrored to it next."
    elif phase == "shadowing":
        state = (f"{release.get('percent')}% of live requests are mirrored to the new slot now (the figures so "
                 "far; approving now switches when the step ends, unless they fail).")
    elif phase == "awaiting-approval":
        state = "The shadow step passed: approving switches traffic at once."
    else:
        state = f"The release is {phase}."
    figures = f"<p>{escape(shadow_summary(shadow))}</p>" if shadow else ""
    return f'<h2>Shadow test on live traffic</h2><p id="shadow">{escape(state)}</p>{figures}'


def _exports(metrics: dict[str, Any]) -> str:
    table = exports_table(metrics)
    return f"<h2>Exports against the SavedModel</h2>{table}" if table else ""


def decision_page(evidence: Evidence, action: str, *, report_link: str, now: datetime | None = None) -> str:
    """The page behind the link: what is decided, on which evidence, until when; Approve and Reject."""
    now = now or datetime.now(UTC)
    expires = datetime.fromtimestamp(evidence.expires, UTC)
    left = max(int((expires - now).total_seconds() // 3600), 0)
    verdict = {True: "passed", False: "failed", None: "not evaluated"}[evidence.gates_passed]
    reasons = "".join(f"<li>{escape(r)}</li>" for r in evidence.gate_reasons) or (
        "<li>every gate held</li>" if evidence.gates_passed else "<li>no reasons recorded</li>")
    grid = (f'<img alt="validation images: true boxes in green with a dark edge, predictions in red" '
            f'src="data:image/jpeg;base64,{base64.b64encode(evidence.grid_jpeg).decode()}"/>'
            if evidence.grid_jpeg else '<p class="muted">No example images were recorded for this run.</p>')
    examples = "".join(
        f"<tr><td>{escape(e.get('image', ''))}</td><td>{escape(', '.join(e.get('truth', [])))}</td><td>"
        + escape(", ".join(f"{p['label']} {p['score']:.2f}" for p in e.get("predicted", []))) + "</td></tr>"
        for e in evidence.examples[:8])
    if evidence.approver:
        who = f'<p>You are signed in as <b>{escape(evidence.approver)}</b>; the decision is recorded in your name.</p>'
    else:
        sign_in = (f' <a href="{escape(evidence.sign_in)}">Sign in</a> to decide in your own name.'
                   if evidence.sign_in else "")
        who = ('<label>Your name <input name="approver" required maxlength="200" autocomplete="name"></label>'
               f'<p class="muted">Recorded as given (not verified).{sign_in}</p>')
    body = f"""
<p>Project <b>{escape(evidence.project)}</b>, model <b>{escape(evidence.model)}</b> version
<b>{escape(evidence.version)}</b>, trained on dataset <code>{escape(evidence.dataset_version)}</code> (batch
{escape(evidence.batch_id)}).</p>
<h2>Release gates: <span class="{verdict.split()[0]}">{verdict}</span></h2><ul>{reasons}</ul>
<h2>Accuracy against the live model, same validation images</h2>{metrics_table(evidence.metrics,
    evidence.metrics.get("validation_images", "the"))}{_golden(evidence.metrics)}
{flips_section(evidence.metrics, evidence.flips_jpeg)}{_shadow(evidence.release)}
{_exports(evidence.metrics)}<h2>Examples from the validation images</h2>{grid}
<table><tr><th>image</th><th>true</th><th>predicted (score ≥ 0.5)</th></tr>{examples}</table>
<p><a href="{escape(report_link)}">Full training report</a> (loss curve, every class).</p>
<form method="post" class="box">
<h2>Your decision</h2>{who}
<label>Comment (optional) <textarea name="comment" rows="2" maxlength="2000"></textarea></label>
<p><button class="approve" name="decision" value="approve"{' autofocus' if action == 'approve' else ''}>Approve
and release</button><button class="reject" name="decision" value="reject">Reject</button></p>
<p class="muted">This link works once and expires {expires:%Y-%m-%d %H:%M} UTC (in about {left} hours).</p>
</form>"""
    return _page(f"Release {evidence.model} version {evidence.version}?", body)


def outcome_page(answer: dict[str, Any]) -> str:
    """What happened after a decision."""
    model, version = escape(str(answer.get("model"))), escape(str(answer.get("version")))
    if answer.get("state") == "approved":
        release = answer.get("release") or {}
        phase = escape(str(release.get("phase", "requested")))
        body = (f"<p>Approved by <b>{escape(str(answer.get('approver')))}</b>. The release of version {version} has "
                f"started ({phase}): it is deployed next to the live model, checked with a real validation image, "
                "then given all traffic. The status endpoint shows its progress.</p>")
        return _page(f"{model} version {version} approved", body)
    body = (f"<p>Rejected by <b>{escape(str(answer.get('approver')))}</b>. Version {version} will not be released; "
            "the live model keeps serving.</p>")
    return _page(f"{model} version {version} rejected", body)


def refusal_page(status: int, reason: str) -> str:
    """A link that cannot be used, and why (expired, already decided, forged, superseded…)."""
    title = {409: "This link was already used", 410: "This link has expired", 404: "Nothing to decide here",
             429: "Too many attempts"}.get(status, "This link cannot be used")
    return _page(title, f"<p>{escape(reason)}</p><p class='muted'>Ask for a new approval link if a decision is "
                        "still needed.</p>")
