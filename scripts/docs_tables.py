"""Rewrite the generated tables in docs/: the settings (shared/settings.py) in docs/settings.md and the log contract
(shared/log_contract.py) in docs/monitoring.md. Run after adding a setting or a log line."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from shared import log_contract, settings  # noqa: E402

TABLES = (("docs/settings.md", "settings", settings.markdown_table),
          ("docs/monitoring.md", "log-contract", log_contract.markdown_table))

for name, marker, make in TABLES:
    page, table = ROOT / name, make()
    text = page.read_text()
    new = re.sub(rf"(<!-- {marker}:start -->\n).*(\n<!-- {marker}:end -->)",
                 lambda m, table=table: m.group(1) + table + m.group(2), text, flags=re.S)
    page.write_text(new)
    print(name, "updated" if new != text else "already current")
