"""The README stays true: its settings table is the one the code generates, its commands exist."""

import re
from pathlib import Path

from shared.settings import markdown_table

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()


def test_settings_table_matches_the_code():
    table = re.search(r"<!-- settings:start -->\n(.*)\n<!-- settings:end -->", README, re.S)
    assert table, "README lost its settings markers"
    assert table.group(1) == markdown_table(), "run: .venv/bin/python scripts/readme_settings.py"


def test_readme_commands_exist():
    for script in re.findall(r"`bash (scripts/[\w.]+)", README):
        assert (ROOT / script).exists(), script
    assert (ROOT / ".ci" / "run").read_text().count("scripts/test.sh") == 1
