"""The project page people look at instead of the status JSON: the window now, the run training, runs, versions
(with a chart), approvals waiting, the live endpoint, labelling and drift. Pure: it renders what ProjectView
gathered; every name and label is escaped, and no key or link credential is ever written into it."""

from __future__ import annotations

import base64
import hashlib
import shlex
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from shared.approval_page import STYLE
from shared.release_watch import health_summary, shadow_summary
from shared.version_chart import version_chart

REFRESH_SECONDS = 15
PAGE_STYLE = STYLE.replace("max-width:860px", "max-width:1100px") + (
    ".bar{background:#eee;border-radius:4px;height:14px;width:420px}.bar div{background:#1565c0;height:14px;"
    "border-radius:4px}.warn{color:#b26a00}section{margin:1.4em 0}h2{margin-bottom:.3em}"
    "td.n{text-align:right}nav a{margin-right:1em}td.d{white-space:nowrap}")
KEEP_KEY = ("const k=new URLSearchParams(location.search).get('code');"
            "if(k)for(const a of document.querySelectorAll('a[data-key]')){const u=new URL(a.href,location.href);"
            "u.searchParams.set('code',k);a.href=u.href}")
"""Same-origin links get the function key from the address bar when clicked: the key is never in the HTML."""
KEEP_KEY_HASH = "sha256-" + base64.b64encode(hashlib.sha256(KEEP_KEY.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                           f"script-src '{KEEP_KEY_HASH}'")


def _text(value: Any, empty: str = "—") -> str:
    if value is None or value == "":
        return empty
    return f"{value:.3f}" if isinstance(value, float) else escape(str(value))


def _rate(steps_per_second: float | None) -> str:
    return "—" if steps_per_second is None else f"{steps_per_second:.1f} steps/s"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} ms"


def _link(href: str, label: str) -> str:
    return f'<a data-key href="{escape(href)}">{label}</a>'


def project_href(project: str, page: int | None = None) -> str:
    return f"/api/projects/{quote(project, safe='')}" + (f"?page={page}" if page else "")


def releases_href(project: str) -> str:
    return f"/api/releases/{quote(project, safe='')}"


def _page(title: str, body: str, now: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" '
            f'content="width=device-width"><meta http-equiv="refresh" content="{REFRESH_SECONDS}">'
            f"<title>{escape(title)}</title><style>{PAGE_STYLE}</style></head><body><h1>{escape(title)}</h1>"
            f'<p class="muted">As of {escape(_moment(now))}; refreshes every {REFRESH_SECONDS} s.</p>{body}'
            f"<script>{KEEP_KEY}</script></body></html>")


def _moment(iso: str) -> str:
    """'2026-12-06 05:16 UTC' from an ISO time (what people read; the JSON keeps the ISO form)."""
    try:
        return f"{datetime.fromisoformat(iso):%Y-%m-%d %H:%M:%S} UTC"
    except ValueError:
        return iso


def _ago(now: str, then: str | None) -> str:
    seconds = _seconds(then, now)
    return "—" if seconds is None else _duration(seconds) + " ago"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    return f"{seconds // 3600} h {seconds % 3600 // 60} min" if seconds >= 3600 else (
        f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s")


def _window(view: dict[str, Any]) -> str:
    window, pending = view["window"], view["pending"]
    rows = [("Phase", _text(window["phase"] or "idle")),
            ("Next decision", f"{_text(window['next'])}: {_text(window['reason'])}"),
            ("Changes waiting", f"{pending['changes']} ({pending['new_images']} new images)"),
            ("Quiet for", _ago(view["now"], pending["last_change"]) if pending["last_change"] else "—"),
            ("Runs today", f"{window['runs_today']} ({window['gpu_hours_today']:.2f} GPU hours)")]
    holds = [f"last run failed: {_text(window['last_failure'])}" if window.get("last_failure") else "",
             f"retrying after {_text(window['retry_after'])}" if window.get("retry_after") else "",
             *(f"dataset: {_text(a)}" for a in view.get("dataset_alerts") or [])]
    held = "".join(f'<li class="warn">{h}</li>' for h in holds if h)
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return (f'<section id="window"><h2>Now</h2><table>{table}</table>'
            + (f"<p>Holds:</p><ul>{held}</ul>" if held else "") + "</section>")


def _training(view: dict[str, Any]) -> str:
    window, progress = view["window"], view.get("progress")
    if not window.get("active_job"):
        return '<section id="training"><h2>Training</h2><p class="muted">No run in progress.</p></section>'
    head = (f"<p>Batch <b>{_text(window['batch_id'])}</b>, job {_text(window['active_job'])} "
            f"({_text(window['step'])}).</p>")
    if not progress:
        return (f'<section id="training"><h2>Training</h2>{head}<p class="muted">No training step reported '
                f"yet (the trainer reports every few seconds once it trains).</p></section>")
    share = min(progress["step"] / max(progress["total_steps"], 1), 1.0)
    eta = progress.get("eta_seconds")
    return (f'<section id="training"><h2>Training</h2>{head}<div class="bar" role="progressbar" '
            f'aria-valuenow="{progress["step"]}" aria-valuemax="{progress["total_steps"]}">'
            f'<div style="width:{share * 100:.0f}%"></div></div>'
            f'<p id="eta">Step {progress["step"]} of {progress["total_steps"]}, loss {_text(progress.get("loss"))}; '
            f"ETA {_duration(eta)} at {_rate(progress.get('steps_per_second'))}, "
            f"reported {_ago(view['now'], progress.get('at'))}.</p></section>")


def _runs(view: dict[str, Any]) -> str:
    project, paging = view["project"], view["runs_page"]
    rows = []
    for run in view["runs"]:
        verdict = {True: '<span class="passed">passed</span>', False: '<span class="failed">failed</span>'}.get(
            run.get("gates_passed"), "—")
        report = _link(run["report"], "report") if run.get("report") else "—"
        rows.append(f"<tr><td>{_text(run['batch_id'])}</td><td>{_text(run.get('dataset_version'))}</td>"
                    f"<td class=n>{_text(run.get('images'))}</td><td class=n>{_text(run.get('new_images'))}</td>"
                    f"<td class=n>{_text(run.get('changes'))}</td>"
                    f"<td class=d>{_duration(_seconds(run.get('claimed_at'), run.get('ended_at')))}</td>"
                    f"<td>{_text(run.get('status'))}</td><td class=n>{_text(run.get('map_50'))}</td>"
                    f"<td>{verdict}</td><td class=d>{_model(run)}</td><td>{report}</td></tr>")
    nav = []
    if paging["page"] > 1:
        nav.append(_link(project_href(project, paging["page"] - 1), "newer runs"))
    if paging["page"] < paging["pages"]:
        nav.append(_link(project_href(project, paging["page"] + 1), "older runs"))
    body = "".join(rows) or '<tr><td colspan="11" class="muted">No run yet.</td></tr>'
    plural = "" if paging["total"] == 1 else "s"
    return (f'<section id="runs"><h2>Runs</h2><p class="muted">{paging["total"]} run{plural}; page {paging["page"]} of '
            f'{paging["pages"]}.</p><table><tr><th>batch</th><th>dataset version</th><th>images</th>'
            f"<th>new images</th><th>changes</th><th>duration</th><th>status</th><th>mAP@0.5</th><th>gates</th>"
            f"<th>model</th><th></th></tr>{body}</table><nav>{''.join(nav)}</nav></section>")


def _model(run: dict[str, Any]) -> str:
    if not run.get("model_version"):
        return "—"
    return f"v{_text(run['model_version'])} ({_text(run.get('model_state'), 'registered')})"


def _seconds(start: str | None, end: str | None) -> float | None:
    """Seconds between two ISO times; None when either is missing or not a time with its zone (a row written by
    hand, an older version) — the page shows a dash rather than failing."""
    try:
        return (datetime.fromisoformat(end or "") - datetime.fromisoformat(start or "")).total_seconds()
    except (ValueError, TypeError):
        return None


def _approvals(view: dict[str, Any]) -> str:
    waiting = view.get("approvals_waiting") or []
    if not waiting:
        return '<section id="approvals"><h2>Approvals waiting</h2><p class="muted">None.</p></section>'
    rows = "".join(f"<tr><td>{_text(a['model_name'])}</td><td>{_text(a['model_version'])}</td>"
                   f"<td>{_text(a['batch_id'])}</td><td>{_text(a['map_50'])}</td>"
                   f"<td>{_moment(a['ended_at'] or '')}</td>"
                   f"<td><code>python -m local_mode approval-link --model {escape(shlex.quote(a['model_name']))} "
                   f"--version {escape(shlex.quote(a['model_version']))}</code></td></tr>" for a in waiting)
    return ('<section id="approvals"><h2>Approvals waiting</h2><p>The approval link went to the chat channel '
            "(it is a credential, so it is not shown here). Lost it? Re-issue it on your terminal, with "
            "<code>DataStorage</code> set; the old link stops working.</p><table><tr><th>model</th><th>version</th>"
            f"<th>batch</th><th>mAP@0.5</th><th>trained</th><th>new link</th></tr>{rows}</table></section>")


def _releases(view: dict[str, Any]) -> str:
    """Every version that went live (or failed to), newest first: who approved it, when it was live, why it ended."""
    rows = []
    for run in view.get("releases") or []:
        who = _text(run.get("approver"))
        if run.get("approver") and not run.get("approver_verified"):
            who += ' <span class="muted">(name typed, not signed in)</span>'
        outcome = (f'<span class="failed">not released: {_text(run.get("deploy_reason"))}</span>'
                   if run.get("model_state") == "deploy-failed" else _text(run.get("model_state")))
        ended = run.get("model_state") == "retired"
        rows.append(f"<tr><td>v{_text(run.get('model_version'))}</td><td>{_text(run.get('dataset_version'))}</td>"
                    f"<td class=n>{_text(run.get('map_50'))}</td><td>{who}</td>"
                    f"<td class=d>{_moment(run.get('deployed_at') or '') if run.get('deployed_at') else '—'}</td>"
                    f"<td class=d>{_moment(run['retired_at']) if ended and run.get('retired_at') else '—'}</td>"
                    f"<td>{_text(run.get('slot'))}</td><td>{outcome}</td></tr>")
    body = ("".join(rows) or '<tr><td colspan="8" class="muted">No release yet.</td></tr>')
    records = _link(releases_href(view.get("project") or ""), "each release as it was recorded")
    return ('<section id="releases"><h2>Releases</h2><table><tr><th>version</th><th>dataset version</th>'
            "<th>mAP@0.5</th><th>approved by</th><th>live from</th><th>live until</th><th>slot</th><th>state</th>"
            f"</tr>{body}</table><p>Gates, approvers and rollbacks of {records}.</p></section>")


def _endpoint(view: dict[str, Any]) -> str:
    endpoint, traffic = view.get("endpoint"), view.get("traffic")
    if not endpoint or not endpoint.get("live_model"):
        phase = f" (release {_text(endpoint['phase'])})" if endpoint else ""
        return f'<section id="endpoint"><h2>Endpoint</h2><p class="muted">Nothing live yet{phase}.</p></section>'
    live = endpoint["live_model"]
    split = ", ".join(f"{_text(slot)} {share}%" for slot, share in (endpoint.get("traffic") or {}).items())
    rows = [("Live", f"{_text(live['name'])} version {_text(live['version'])} on slot "
                     f"{_text(endpoint.get('live_slot'))} since {_moment(live.get('since') or '')}"),
            ("Traffic", split or "—"), ("Release", _text(endpoint.get("phase"))),
            ("Scoring URI", _text(endpoint.get("scoring_uri")) + ' <span class="muted">(API key required)</span>')]
    if endpoint.get("shadow"):
        rows.append(("Shadow", _text(shadow_summary(endpoint["shadow"]))))
    if baking := endpoint.get("baking"):
        rows.append(("Baking", f"the old slot {_text(baking['previous_slot'])} (version "
                               f"{_text(baking['previous_model_version'])}) kept at 0% until "
                               f"{_moment(baking['until'])}; the new slot so far: "
                               f"{_text(health_summary(endpoint.get('health')))}"))
    if traffic:
        rows.append(("Last hour", f"{traffic['requests']} requests answered ({traffic.get('failed', 0)} failed); "
                                  "latency p50 "
                                  f"{_ms(traffic['p50_ms'])}, p95 {_ms(traffic['p95_ms'])} "
                                  '<span class="muted">(from the collected requests; a request that never '
                                  "reached score.py is not collected: the endpoint's metrics count it)</span>"
                                  + (f' <span class="warn">{traffic["problems"]} collected lines unreadable</span>'
                                     if traffic.get("problems") else "")))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<section id="endpoint"><h2>Endpoint</h2><table>{table}</table></section>'


def _labelling(view: dict[str, Any]) -> str:
    export, drift = (view.get("labelling") or {}).get("last_export"), view.get("drift")
    lines = []
    if export:
        where = (f", in {_text(export['folder'])}" if export.get("folder") else
                 f" ({_text(export['reason'])})" if export.get("reason") else "")
        lines.append(f"Last export {_text(export.get('export_id'))}: {_text(export.get('exported'))} images to "
                     f"label{where}.")
    if drift:
        warned = "; ".join(_text(w) for w in drift.get("warnings") or []) or "no warning"
        lines.append(f"Drift on {_text(drift.get('day'))} ({_text(drift.get('images'))} production images, "
                     f"version {_text(drift.get('model_version'))}): {warned}.")
    body = "".join(f"<p>{line}</p>" for line in lines) or '<p class="muted">No export or drift watch yet.</p>'
    return f'<section id="labelling"><h2>Labelling and drift</h2>{body}</section>'


def releases_page(view: dict[str, Any]) -> str:
    """Every release of the project, newest first: what went live (from, to) or was rolled back and why, from which
    run and data, its gates and who approved it."""
    rows = []
    for r in view["releases"]:
        if r.get("outcome") == "live":
            ended = f"live from {escape(_moment(r.get('live_from') or ''))} to " + (
                escape(_moment(r["live_to"])) if r.get("live_to") else "now")
        else:
            ended = (f"live from {escape(_moment(r['live_from']))}, " if r.get("live_from") else "") + \
                f"rolled back: {escape(r.get('reason') or '')}"
        who = escape(r.get("approver") or "—") + (" (verified)" if r.get("approver_verified") else
                                                   " (not verified)" if r.get("approver") else "")
        gates = "passed" if r.get("gates_passed") else "failed: " + escape("; ".join(r.get("gate_reasons") or []))
        rows.append(f"<tr><td>v{escape(str(r.get('model_version')))}</td><td>{escape(r.get('outcome') or '')}</td>"
                    f"<td>{ended}</td><td>{escape(r.get('batch_id') or '')}</td>"
                    f"<td>{escape(r.get('dataset_version') or '')}</td><td>{gates}</td><td>{who}</td>"
                    f"<td>{escape(r.get('runtime') or '')}</td><td>{escape(shadow_summary(r.get('shadow')))}</td>"
                    f"<td>{escape(health_summary(r.get('health')))}</td></tr>")
    table = ('<table id="history"><tr><th>version</th><th>outcome</th><th>when</th><th>run</th><th>dataset</th>'
             "<th>gates</th><th>approved by</th><th>runtime</th><th>shadow (mirrored traffic)</th>"
             "<th>after the switch</th></tr>" + "".join(rows) + "</table>" if rows else "<p>No release yet.</p>")
    back = _link(project_href(view["project"]), "the project page")
    return _page(f"Releases of {view['project']}", f"<p>Back to {back}. Each row is written once, as the release "
                 f"ended.</p>{table}", view["now"])


def project_page(view: dict[str, Any]) -> str:
    """The whole page for one project, from ProjectView.project."""
    project = view["project"]
    body = (f'<nav>{_link("/api/projects", "all projects")}'
            f'{_link("/api/status/" + quote(project, safe=""), "status as JSON")}</nav>'
            + _window(view) + _training(view)
            + f'<section id="versions"><h2>Versions</h2>{version_chart(view.get("versions") or [])}</section>'
            + _approvals(view) + _endpoint(view) + _releases(view) + _labelling(view) + _runs(view))
    return _page(f"Project {project}", body, view["now"])


def index_page(listing: dict[str, Any], now: str) -> str:
    """Every project a line, paged as the status endpoint pages them."""
    rows = []
    for p in listing["projects"]:
        latest, live = p.get("latest_run") or {}, p.get("live_model") or {}
        rows.append(f"<tr><td>{_link(project_href(p['project']), _text(p['project']))}</td>"
                    f"<td>{_text(p['phase'])}</td><td>{_text(latest.get('batch_id'))} "
                    f"{_text(latest.get('status'), '')}</td><td>{_text(live.get('version'))}</td></tr>")
    more = (_link(f"/api/projects?after={quote(listing['next'], safe='')}", "more projects")
            if listing.get("next") else "")
    body = ('<table><tr><th>project</th><th>phase</th><th>latest run</th><th>live version</th></tr>'
            + ("".join(rows) or '<tr><td colspan="4" class="muted">No project yet.</td></tr>')
            + f"</table><nav>{more}</nav>")
    return _page("Projects", body, now)
