"""The core stays pure: no Azure SDK or TensorFlow outside the adapters, none of either in the function app."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN_IN_CORE = ("azure", "tensorflow", "object_detection", "keras")
OUTSIDE_CALLS = ("urllib", "http", "socket", "subprocess", "requests", "httpx", "aiohttp")
"""Talking to the outside world is an adapter's job (shared/adapters/), behind a port."""
STRING_ONLY = ("urllib.parse",)
"""Modules under those names that only handle strings (quoting a link is not a call)."""


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(folder: Path, forbidden: tuple[str, ...], skip: str | None = None) -> list[str]:
    found = []
    for path in folder.rglob("*.py"):
        if skip and skip in path.parts:
            continue
        for module in imported_modules(path) - set(STRING_ONLY):
            if module.split(".")[0] in forbidden:
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


def test_core_imports_no_cloud_sdk_and_no_tensorflow():
    assert offenders(ROOT / "shared", FORBIDDEN_IN_CORE, skip="adapters") == []


def test_core_makes_no_outside_call_of_its_own():
    assert offenders(ROOT / "shared", OUTSIDE_CALLS, skip="adapters") == []


def test_the_purity_check_sees_what_it_forbids(tmp_path):
    sample = tmp_path / "leaky.py"
    sample.write_text("import urllib.request\nfrom http import client\nimport json\n")
    assert {m.split(".")[0] for m in imported_modules(sample)} & set(OUTSIDE_CALLS) == {"urllib", "http"}


def test_function_app_and_adapters_never_import_tensorflow():
    heavy = ("tensorflow", "object_detection", "keras")
    assert offenders(ROOT / "function_app", heavy) == []
    assert offenders(ROOT / "shared" / "adapters", heavy) == []
