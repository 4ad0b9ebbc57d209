"""What users are told about a bad file: which file, which field, why."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal


class Rejected(Exception):
    """A file cannot be used; `field` points inside it (e.g. ``object[2]/bndbox/xmin``)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    reason: str
    severity: Literal["error", "warning"] = "error"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.file} [{self.field}] {self.reason}"
