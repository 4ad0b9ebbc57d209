"""Rewrite the generated tables in README.md: settings (shared/settings.py) and the log contract
(shared/log_contract.py). Run after adding a setting or a log line."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from shared import log_contract, settings

readme = Path(__file__).resolve().parent.parent / "README.md"
text = new = readme.read_text()
for marker, table in (("settings", settings.markdown_table()), ("log-contract", log_contract.markdown_table())):
    new = re.sub(rf"(<!-- {marker}:start -->\n).*(\n<!-- {marker}:end -->)",
                 lambda m, table=table: m.group(1) + table + m.group(2), new, flags=re.S)
readme.write_text(new)
print("README tables", "updated" if new != text else "already current")
