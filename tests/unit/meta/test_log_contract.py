"""The log contract (shared/log_contract.py, the table in docs/monitoring.md) and the code say the same: every line
the service logs is in the contract at its level, every contract line is logged somewhere, and a call whose fields
are all written out carries every field the contract promises."""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from shared import log_contract

ROOT = Path(__file__).resolve().parents[3]
SERVICE = ("shared", "function_app", "trainer_image")
LEVELS = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR", "exception": "ERROR",
          "critical": "CRITICAL"}


@dataclass
class LogCall:
    where: str
    message: str | None
    """None: not a literal (a contract cannot name it)."""
    level: str
    keys: set[str] | None
    """The extra fields when every one is written out; None when some come from a variable."""


def _literal_keys(node: ast.AST | None) -> set[str] | None:
    if node is None:
        return set()
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):  # **spread
            return None
        return {k.value for k in node.keys if isinstance(k, ast.Constant)}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _literal_keys(node.left), _literal_keys(node.right)
        return None if left is None or right is None else left | right
    if isinstance(node, ast.DictComp) and node.generators and isinstance(node.generators[0].iter, ast.Tuple | ast.List):
        return {e.value for e in node.generators[0].iter.elts if isinstance(e, ast.Constant)}
    return None


def log_calls(path: Path, root: Path = ROOT) -> list[LogCall]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEVELS
                and isinstance(node.func.value, ast.Name) and node.func.value.id in ("log", "logger") and node.args):
            continue
        where, level, first = f"{path.relative_to(root)}:{node.lineno}", LEVELS[node.func.attr], node.args[0]
        extra = next((k.value for k in node.keywords if k.arg == "extra"), None)
        if isinstance(first, ast.Call) and getattr(first.func, "attr", "") == "dumps" and isinstance(
                first.args[0], ast.Dict):  # score.py writes its JSON itself
            body = first.args[0]
            message = next((v.value for k, v in zip(body.keys, body.values, strict=True)
                            if isinstance(k, ast.Constant) and k.value == "message"), None)
            found.append(LogCall(where, message, level, _literal_keys(body)))
        elif isinstance(first, ast.IfExp) and all(isinstance(x, ast.Constant) for x in (first.body, first.orelse)):
            found += [LogCall(where, x.value, level, _literal_keys(extra)) for x in (first.body, first.orelse)]
        else:
            found.append(LogCall(where, first.value if isinstance(first, ast.Constant) else None, level,
                                 _literal_keys(extra)))
    return found


def service_calls() -> list[LogCall]:
    return [call for folder in SERVICE for path in sorted((ROOT / folder).rglob("*.py")) for call in log_calls(path)]


def test_every_line_the_service_logs_is_in_the_contract_at_its_level():
    calls = service_calls()
    assert len(calls) > 60
    assert [c.where for c in calls if c.message is None] == [], "log a literal message; put the variable in extra"
    contract = {(e.message, e.level) for e in log_contract.EVENTS}
    assert sorted({f"{c.where} {c.level} {c.message!r}" for c in calls if (c.message, c.level) not in contract}) == []


def test_every_contract_line_is_logged_somewhere():
    logged = {(c.message, c.level) for c in service_calls()}
    assert [f"{e.level} {e.message!r}" for e in log_contract.EVENTS if (e.message, e.level) not in logged] == []


def test_a_call_whose_fields_are_written_out_carries_the_contract_fields():
    missing = []
    for call in service_calls():
        if call.keys is None or call.message is None:
            continue
        promised = {f for e in log_contract.BY_MESSAGE[call.message] if e.level == call.level for f in e.fields}
        if promised - call.keys - {"message"}:
            missing.append(f"{call.where} {call.message!r} lacks {sorted(promised - call.keys)}")
    assert missing == []


def test_the_monitoring_page_table_is_the_contract():
    page = (ROOT / "docs" / "monitoring.md").read_text()
    table = re.search(r"<!-- log-contract:start -->\n(.*)\n<!-- log-contract:end -->", page, re.S)
    assert table, "docs/monitoring.md lost its log-contract markers"
    assert table.group(1) == log_contract.markdown_table(), "run: .venv/bin/python scripts/docs_tables.py"


def test_the_check_sees_an_uncontracted_and_a_dynamic_message(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text('log.info("made up", extra={"a": 1})\nlog.info(f"release {x}")\n'
                      'log.warning("training held", extra={"reason": r})\n')
    calls = log_calls(sample, root=tmp_path)
    assert [(c.message, c.keys) for c in calls] == [("made up", {"a"}), (None, set()), ("training held", {"reason"})]
    held = next(e for e in log_contract.EVENTS if e.message == "training held")
    assert set(held.fields) - calls[2].keys == {"hold"}
