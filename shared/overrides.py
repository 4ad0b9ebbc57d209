"""Per-project values of a policy (gates, labelling selection) from a JSON setting: {"project": {"field": value}}."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from typing import TypeVar

P = TypeVar("P")


def for_project(project: str, default: P, overrides_json: str | None, setting: str) -> P:
    """`default` with the project's own values; a clear error naming the setting for bad JSON or unknown fields."""
    if not overrides_json:
        return default
    try:
        overrides = json.loads(overrides_json)
    except ValueError as exc:
        raise ValueError(f"{setting} is not valid JSON: {exc}") from exc
    mine = overrides.get(project, {}) if isinstance(overrides, dict) else None
    if not isinstance(mine, dict):
        raise ValueError(f"{setting}[{project!r}] must be an object of field values")
    known = {f.name for f in fields(default)}
    if unknown := sorted(set(mine) - known):
        raise ValueError(f"{setting}[{project!r}]: unknown field(s) {unknown}; known: {sorted(known)}")
    return replace(default, **mine)
