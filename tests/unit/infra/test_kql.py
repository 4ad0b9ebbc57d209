"""Every saved query and alert query is valid KQL against the tables it reads, as Microsoft's own Kusto language
service (npm @kusto/language-service-next, run by Node) analyzes it: a syntax error or an unknown column fails.
And the queries read the log contract: every message they match and every field of a line they use is one the
service writes."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from shared import log_contract

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "infra" / "monitoring"
CHECKER = ROOT / "tools" / "kql" / "kql_check.js"
QUERIES = sorted([*MONITORING.glob("queries/*.kql"), *MONITORING.glob("alerts/*.kql")])


def analyze(queries: dict[str, str]) -> dict[str, list[str]]:
    node = shutil.which("node")
    assert node, "Node is needed (it runs Azurite too)"
    request = {"tables": json.loads((MONITORING / "schema.json").read_text())["tables"],
               "functions": {"RetrainEvents": (MONITORING / "RetrainEvents.kql").read_text()}, "queries": queries}
    done = subprocess.run([node, str(CHECKER)], input=json.dumps(request), capture_output=True, text=True,
                          cwd=ROOT / "tools", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@cache
def analyzed() -> dict[str, list[str]]:
    return analyze({str(path.relative_to(MONITORING)): path.read_text() for path in QUERIES})


def test_the_saved_function_reads_app_traces_without_an_error():
    assert analyzed()["RetrainEvents"] == []


@pytest.mark.parametrize("path", QUERIES, ids=lambda p: str(p.relative_to(MONITORING)))
def test_every_query_is_valid_against_the_tables_it_reads(path):
    assert analyzed()[str(path.relative_to(MONITORING))] == []


def test_the_analyzer_catches_a_syntax_error_and_an_unknown_column_or_field():
    found = analyze({"syntax": "RetrainEvents | where", "column": "RetrainEvents | project nope",
                     "table": "AppTrace | take 1", "good": 'RetrainEvents | where message == "x" | take 1'})
    assert found["syntax"] and found["column"] and found["table"] and found["good"] == []
    assert "nope" in found["column"][0]


def messages_in(text: str) -> set[str]:
    """Strings a query compares `message` with (== or in (…))."""
    found = set(re.findall(r'message == "([^"]+)"', text))
    for group in re.findall(r"message in \(([^)]*)\)", text, re.S):
        found |= set(re.findall(r'"([^"]+)"', group))
    return found


def test_the_queries_match_only_messages_the_service_writes():
    unknown = {f"{path.name}: {m!r}" for path in QUERIES for m in messages_in(path.read_text())
               if m not in log_contract.BY_MESSAGE}
    assert unknown == set()
    used = set().union(*(messages_in(path.read_text()) for path in QUERIES))
    assert {"flush claimed", "uploads recorded", "approval decided", "training run ended", "release rolled back",
            "file quarantined", "scored", "events dead-lettered"} <= used


def fields_in(text: str) -> set[str]:
    """Fields of a log line a query reads: `e.name` or `e["name"]` (for names KQL keeps as keywords)."""
    return {dotted or bracketed for dotted, bracketed in re.findall(r'\be(?:\.(\w+)|\["(\w+)"\])', text)}


def test_the_queries_use_only_fields_the_contract_promises():
    promised = {f for e in log_contract.EVENTS for f in (*e.ids, *e.fields)}
    used = set().union(*(fields_in(path.read_text()) for path in [*QUERIES, MONITORING / "RetrainEvents.kql"]))
    assert {"project", "cut", "last_event_time", "latency_ms"} <= used
    assert used - promised - {"message", "level"} == set()
    assert fields_in('e.cut, e["project"], tostring(e.nope)') == {"cut", "project", "nope"}


def test_the_batch_timeline_joins_lines_as_local_mode_does():
    """The KQL and shared/log_timeline.py take the same lines: the batch's own, its runs', and the uploads recorded
    after the project's previous cut up to the batch's cut."""
    text = (MONITORING / "queries" / "batch-timeline.kql").read_text()
    assert 'message == "flush claimed"' in text and "e.cut" in text and "e.last_event_time" in text
    assert "run_id in (runs) and isempty(batch_id)" in text


def test_the_bicep_deploys_every_query_and_alert_and_its_parameters_reach_them():
    monitoring = (ROOT / "infra" / "app" / "monitoring.bicep").read_text()
    alerts = (ROOT / "infra" / "app" / "alerts.bicep").read_text()
    assert "loadTextContent('../monitoring/RetrainEvents.kql')" in monitoring and "functionAlias: 'RetrainEvents'" in \
        monitoring
    for path in MONITORING.glob("queries/*.kql"):
        assert f"loadTextContent('../monitoring/queries/{path.name}')" in monitoring, path.name
    for path in MONITORING.glob("alerts/*.kql"):
        assert f"loadTextContent('../monitoring/alerts/{path.name}')" in alerts, path.name
    # the Bicep fills these defaults by replacing the exact text: it must be in the files
    replacements = re.findall(r"'(let \w+ = [^']*;)', 'let ", monitoring + alerts)
    assert len(replacements) == 5  # BatchId, Project; the endpoint alert's three thresholds
    for replaced in replacements:
        holder = [p.name for p in QUERIES if replaced in p.read_text()]
        assert holder, f"{replaced!r} is in no query: the parameter would not reach it"
