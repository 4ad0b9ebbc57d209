"""The README and docs/ stay true: the settings table is the one the code generates, the commands exist, and every
link between the pages lands on a page that exists."""

import re
from pathlib import Path

from shared.settings import markdown_table

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_settings_table_matches_the_code():
    page = (ROOT / "docs" / "settings.md").read_text()
    table = re.search(r"<!-- settings:start -->\n(.*)\n<!-- settings:end -->", page, re.S)
    assert table, "docs/settings.md lost its settings markers"
    assert table.group(1) == markdown_table(), "run: .venv/bin/python scripts/docs_tables.py"


def test_readme_commands_exist():
    for page in PAGES:
        for script in re.findall(r"`bash (scripts/[\w.]+|bench/[\w.]+)", page.read_text()):
            assert (ROOT / script).exists(), f"{page.name}: {script}"
    assert (ROOT / ".ci" / "run").read_text().count("scripts/test.sh") == 1


def test_links_between_pages_land():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).is_file():
                broken.append(f"{page.relative_to(ROOT)} → {target}")
    assert broken == []


def test_the_front_page_reads_in_five_minutes():
    words = len(README.split())
    assert words < 1200, f"README.md has {words} words: move the reference to docs/"
    assert all(f"docs/{page.name}" in README for page in PAGES[1:]), "a docs/ page the README does not link"
