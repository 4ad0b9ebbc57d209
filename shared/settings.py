"""One typed settings object, read from environment variables (Function app settings in Azure).

Every field names its variable and says what it is for; the README table and the Bicep app settings are
checked against this list by tests, so a setting cannot be read here without being declared there.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_type_hints


def _setting(env: str, default: Any, doc: str) -> Any:
    return field(default=default, metadata={"env": env, "doc": doc})


class SettingsError(ValueError):
    """A setting is present but unusable; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    # Storage: a connection string (Azurite, local mode) or identity-based service URIs (Azure).
    storage_connection_string: str | None = _setting(
        "DataStorage", None, "Connection string of the data storage account (Azurite in local mode); "
        "leave empty in Azure, where the identity-based settings below are used.")
    blob_service_uri: str | None = _setting(
        "DataStorage__blobServiceUri", None, "Blob endpoint of the data account, for managed identity.")
    table_service_uri: str | None = _setting(
        "DataStorage__tableServiceUri", None, "Table endpoint of the data account, for managed identity.")
    storage_client_id: str | None = _setting(
        "DataStorage__clientId", None, "Client id of the user-assigned identity used for storage "
        "(empty: system-assigned or developer credentials).")
    # Containers.
    datasets_container: str = _setting(
        "DATASETS_CONTAINER", "datasets", "Container people upload images and annotations to, one folder "
        "per project.")
    quarantine_container: str = _setting(
        "QUARANTINE_CONTAINER", "quarantine", "Container that receives a copy of every rejected file and "
        "its reason.")
    manifests_container: str = _setting(
        "MANIFESTS_CONTAINER", "manifests", "Container of dataset manifests (one JSON per dataset version).")
    # Dataset checks.
    validation_fraction: float = _setting(
        "VALIDATION_FRACTION", 0.2, "Share of images held out for evaluation (stable per image name).")
    max_image_pixels: int = _setting(
        "MAX_IMAGE_PIXELS", 40_000_000, "Images with more pixels are refused as decompression bombs.")
    max_image_bytes: int = _setting(
        "MAX_IMAGE_BYTES", 50 * 1024 * 1024, "Largest image file accepted, in bytes.")
    max_annotation_bytes: int = _setting(
        "MAX_ANNOTATION_BYTES", 1024 * 1024, "Largest annotation XML accepted, in bytes.")
    log_level: str = _setting("LOG_LEVEL", "INFO", "Log level of the JSON log lines.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from `env` (default: the process environment), casting to the field's type."""
        env = os.environ if env is None else env
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _cast(f.metadata["env"], raw, hints[f.name])
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _cast(name: str, raw: str, hint: Any) -> Any:
    target = next((t for t in (int, float, bool) if hint is t or str(hint).startswith(t.__name__)), str)
    try:
        if target is bool:
            if raw.lower() not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"true", "1", "yes"}
        return target(raw)
    except ValueError as exc:
        raise SettingsError(f"setting {name}={raw!r} is not a valid {target.__name__}") from exc


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, meaning) for every setting, for the README and the Bicep check."""
    return [(f.metadata["env"], f.default, f.metadata["doc"]) for f in dataclasses.fields(Settings)]


def markdown_table() -> str:
    """The README's settings table, generated so it cannot drift from the code."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, default, doc in documented_settings():
        rows.append(f"| `{name}` | {'' if default is None else f'`{default}`'} | {doc} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
