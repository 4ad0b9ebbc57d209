"""Base models from TF2 Detection Model Zoo archives: checked member by member before anything is unpacked, and
described in a `base.json` (source, SHA-256, architecture, input size, classes). Pure: archive bytes in, files out."""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import tarfile
from dataclasses import asdict, dataclass
from typing import Any

SUPPORTED = ("ssd", "faster_rcnn", "center_net")
"""Meta-architectures the trainer's OD API build trains (model_lib_v2 with Keras feature extractors)."""
BASE_JSON = "base.json"


class ArchiveError(ValueError):
    """The archive cannot be a base model; the message names the member and what is wrong with it."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 2_000
    max_bytes: int = 2 * 1024**3
    """Uncompressed total (the largest zoo models are ~1 GB unpacked)."""


@dataclass(frozen=True)
class BaseModel:
    name: str
    source: str
    sha256: str
    architecture: str
    input_size: str
    num_classes: int
    files: dict[str, bytes]

    def description(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "files"} | {"files": sorted(self.files)}


def unpack(data: bytes, limits: ArchiveLimits | None = None) -> dict[str, bytes]:
    """The archive's regular files by path below its single top folder (zoo archives have one), after refusing
    absolute paths, `..`, links, devices and archives past the limits — before a byte is written anywhere."""
    limits = limits or ArchiveLimits()
    files: dict[str, bytes] = {}
    total = 0
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 - closed by the with below
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"not a tar archive (.tar.gz as the model zoo ships them): {exc}") from None
    with archive:
        for count, member in enumerate(archive, start=1):
            if count > limits.max_members:
                raise ArchiveError(f"more than {limits.max_members} members")
            _check_member(member)
            if member.isdir():
                continue
            total += member.size
            if total > limits.max_bytes:
                raise ArchiveError(f"{member.name}: the archive unpacks to more than {limits.max_bytes} bytes")
            extracted = archive.extractfile(member)
            files[posixpath.normpath(member.name)] = extracted.read() if extracted else b""
    return _below_top_folder(files)


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ArchiveError(f"{name}: absolute path")
    if ".." in name.split("/"):
        raise ArchiveError(f"{name}: path leaves the archive (..)")
    if member.issym() or member.islnk():
        raise ArchiveError(f"{name}: links are not accepted (points at {member.linkname})")
    if not (member.isfile() or member.isdir()):
        raise ArchiveError(f"{name}: not a regular file or folder (device, FIFO or other special member)")


def _below_top_folder(files: dict[str, bytes]) -> dict[str, bytes]:
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1 and all("/" in name for name in files):
        (top,) = tops
        return {name[len(top) + 1:]: data for name, data in files.items()}
    return files


def describe(name: str, source: str, data: bytes, files: dict[str, bytes]) -> BaseModel:
    """Check the unpacked zoo layout and read what the config says about the model."""
    if "pipeline.config" not in files:
        raise ArchiveError(f"no pipeline.config at the top of the model folder (found: {sorted(files)[:8]})")
    if "checkpoint/ckpt-0.index" not in files or not any(n.startswith("checkpoint/ckpt-0.data-") for n in files):
        raise ArchiveError("no checkpoint/ckpt-0.index and ckpt-0.data-* (the TF2 zoo layout): nothing to "
                           "fine-tune from")
    config = files["pipeline.config"].decode("utf-8", errors="replace")
    match = re.search(r"^model\s*\{\s*(\w+)\s*\{", config, re.MULTILINE)
    if match is None:
        raise ArchiveError("pipeline.config: no model { <architecture> { … } } section")
    if (architecture := match.group(1)) not in SUPPORTED:
        raise ArchiveError(f"pipeline.config: model {architecture!r} is not one the trainer supports "
                           f"({', '.join(SUPPORTED)})")
    classes = re.search(r"num_classes\s*:\s*(\d+)", config)
    return BaseModel(name=name, source=source, sha256=hashlib.sha256(data).hexdigest(), architecture=architecture,
                     input_size=_input_size(config), num_classes=int(classes.group(1)) if classes else 0,
                     files=files)


def _input_size(config: str) -> str:
    fixed = re.search(r"fixed_shape_resizer\s*\{\s*height\s*:\s*(\d+)\s*width\s*:\s*(\d+)", config)
    if fixed:
        return f"{fixed.group(2)}x{fixed.group(1)}"
    keep = re.search(r"keep_aspect_ratio_resizer\s*\{\s*min_dimension\s*:\s*(\d+)\s*max_dimension\s*:\s*(\d+)",
                     config)
    return f"keep aspect ratio, {keep.group(1)} to {keep.group(2)}" if keep else "unknown"


def valid_name(name: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name) is not None
