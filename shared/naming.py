"""Names of Azure resources derived from project names: cleaned to each resource's rule, never colliding.

A project is whatever first-level folder people upload into, so its name may hold spaces, dots or non-ASCII
letters and be of any length. When a name has to change to fit a rule (characters replaced, letters lowered, or
cut to length), 6 hex digits of the original's hash are appended, so two projects never share an Azure resource.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class NameRule:
    forbidden: str
    """Characters the name may not hold (a regex class)."""
    limit: int
    lowercase: bool = False
    letter_first: bool = False


ASSET = NameRule(r"[^a-zA-Z0-9_.-]", 255)
"""Models and other assets: letters, digits, '-', '_', '.'; starting with a letter or digit."""
EXPERIMENT = NameRule(r"[^a-zA-Z0-9_-]", 255)
"""Jobs and experiments: letters, digits, '-', '_'; starting with a letter or digit."""
ENDPOINT = NameRule(r"[^a-z0-9-]", 32, lowercase=True, letter_first=True)
"""Online endpoints: 3 to 32 lowercase letters, digits and hyphens, starting with a letter and ending with a
letter or digit (unique per region)."""


def azure_name(text: str, rule: NameRule) -> str:
    """`text` itself when it fits `rule`; otherwise its cleaned form cut to length, plus a hash of `text`."""
    wanted = text.lower() if rule.lowercase else text
    cleaned = re.sub(r"-{2,}", "-", re.sub(rule.forbidden, "-", wanted)).strip("-_.")
    if rule.letter_first and not cleaned[:1].isalpha():
        cleaned = f"x-{cleaned}".rstrip("-")
    if cleaned == text and len(cleaned) <= rule.limit:
        return cleaned
    digest = hashlib.sha256(text.encode()).hexdigest()[:6]
    return f"{cleaned[: rule.limit - 7].rstrip('-_.')}-{digest}"
