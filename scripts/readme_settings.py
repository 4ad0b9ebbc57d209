"""Rewrite the settings table in README.md from shared/settings.py (run after adding a setting)."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shared.settings import markdown_table

readme = Path(__file__).resolve().parent.parent / "README.md"
text = readme.read_text()
new = re.sub(r"(<!-- settings:start -->\n).*(\n<!-- settings:end -->)",
             lambda m: m.group(1) + markdown_table() + m.group(2), text, flags=re.S)
readme.write_text(new)
print("README settings table", "updated" if new != text else "already current")
