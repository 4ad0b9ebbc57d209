"""A log call's `extra` never names a LogRecord attribute: logging raises KeyError then, but only when the level is
on, so a unit test with logging off never sees it (CI met it once, through `name`)."""

import ast
import logging
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
RESERVED = set(logging.LogRecord("n", logging.INFO, "p", 0, "m", (), None).__dict__) | {"message", "asctime"}
SOURCES = ("shared", "function_app", "trainer_image", "local_mode", "bench", "scripts")


def extra_keys(tree: ast.AST) -> list[tuple[int, str]]:
    """Constant keys of every `extra=` dict literal, dict comprehension over a literal, or dict(...) call."""
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.keyword) and node.arg == "extra"):
            continue
        for part in ast.walk(node.value):
            if isinstance(part, ast.Dict):
                found += [(node.value.lineno, k.value) for k in part.keys if isinstance(k, ast.Constant)]
            elif isinstance(part, ast.comprehension) and isinstance(part.iter, (ast.Tuple, ast.List)):
                found += [(node.value.lineno, e.value) for e in part.iter.elts if isinstance(e, ast.Constant)]
            elif isinstance(part, ast.Call) and getattr(part.func, "id", "") == "dict":
                found += [(node.value.lineno, k.arg) for k in part.keywords if k.arg]
    return found


def test_no_log_call_overwrites_a_log_record_attribute():
    clashes = [f"{path.relative_to(ROOT)}:{line} extra names {key!r}"
               for folder in SOURCES if (ROOT / folder).is_dir() for path in (ROOT / folder).rglob("*.py")
               for line, key in extra_keys(ast.parse(path.read_text())) if key in RESERVED]
    assert clashes == []


def test_the_check_sees_a_clash_in_each_shape():
    sample = ast.parse('log.info("a", extra={"name": 1})\nlog.info("b", extra={k: d[k] for k in ("msg", "x")})\n'
                       'log.info("c", extra=dict(module=1) | {"run_id": 2})\n')
    assert [key for _, key in extra_keys(sample) if key in RESERVED] == ["name", "msg", "module"]
