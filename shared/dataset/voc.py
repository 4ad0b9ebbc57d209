"""Pascal VOC annotation parsing (VoTT, CVAT, LabelImg exports), hardened against hostile XML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lxml import etree

from shared.dataset.problems import Rejected

_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no", ""}


@dataclass(frozen=True)
class Box:
    """One object: its class and its box in pixels (as written in the XML, or after checking)."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool = False
    truncated: bool = False

    def as_list(self) -> list[Any]:
        """As checked outcomes and catalog records keep it (`Box(*values)` reads it back)."""
        return [self.name, self.xmin, self.ymin, self.xmax, self.ymax, self.difficult, self.truncated]


@dataclass(frozen=True)
class VocAnnotation:
    filename: str | None
    size: tuple[int, int] | None
    objects: tuple[Box, ...]


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network, no huge trees: XXE and entity bombs go nowhere.
    return etree.XMLParser(
        resolve_entities=False, load_dtd=False, dtd_validation=False, no_network=True, huge_tree=False
    )


def safe_root(data: bytes, *, max_bytes: int, setting: str = "MAX_ANNOTATION_BYTES") -> etree._Element:
    """The root element of an annotation XML from a stranger: bounded, no DTD, no entities, no network."""
    if len(data) > max_bytes:
        raise Rejected("file", f"annotation is {len(data)} bytes, above {setting}={max_bytes}")
    _refuse_declarations(data)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        if "amplification" in str(exc) or "entity" in str(exc).lower():
            raise Rejected("DOCTYPE", f"entity expansion refused (billion laughs?): {exc}") from None
        raise Rejected("xml", f"not well-formed XML: {exc}") from None
    _refuse_dtd(root)  # backstop for encodings the byte scan cannot read (UTF-16)
    return root


def parse_voc(data: bytes, *, max_bytes: int) -> VocAnnotation:
    """Parse one VOC XML; raise Rejected naming the field at fault."""
    root = safe_root(data, max_bytes=max_bytes)
    if root.tag != "annotation":
        raise Rejected(root.tag if isinstance(root.tag, str) else "xml", "root element must be <annotation>")
    filename = (root.findtext("filename") or "").strip() or None
    return VocAnnotation(filename, _size(root), tuple(_objects(root)))


_ENTITY_DECLARATION = re.compile(rb"<!ENTITY\s+(?:%\s*)?([\w.-]+)")


def _refuse_declarations(data: bytes) -> None:
    """Refuse DTDs before the parser sees them: VOC files never need one, attacks always do."""
    if b"<!DOCTYPE" not in data and b"<!ENTITY" not in data:
        return
    entities = [name.decode("utf-8", "replace") for name in _ENTITY_DECLARATION.findall(data)]
    if entities:
        raise Rejected(
            "DOCTYPE",
            f"declares entities ({', '.join(entities[:5])}{', …' if len(entities) > 5 else ''}): refused as a "
            "possible XXE or entity-expansion (billion laughs) attack; annotation files never need a DTD",
        )
    raise Rejected("DOCTYPE", "declares a DTD: refused, annotation files never need one")


def _refuse_dtd(root: etree._Element) -> None:
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is None:
        return
    entities = [e.name for e in dtd.iterentities()]
    if entities:
        raise Rejected(
            "DOCTYPE",
            f"declares entities ({', '.join(entities)}): refused as a possible XXE or entity-expansion "
            "(billion laughs) attack; annotation files never need a DTD",
        )
    raise Rejected("DOCTYPE", "declares a DTD: refused, annotation files never need one")


def _number(element: etree._Element | None, field: str) -> float:
    if element is None or element.text is None or not element.text.strip():
        raise Rejected(field, "missing")
    try:
        value = float(element.text.strip())
    except ValueError:
        raise Rejected(field, f"{element.text.strip()!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise Rejected(field, f"{element.text.strip()!r} is not a finite number")
    return value


def _size(root: etree._Element) -> tuple[int, int] | None:
    size = root.find("size")
    if size is None or (size.find("width") is None and size.find("height") is None):
        return None
    width, height = _number(size.find("width"), "size/width"), _number(size.find("height"), "size/height")
    if width == 0 and height == 0:
        return None  # some tools write 0x0 when they did not know: read it from the image
    for field, value in (("size/width", width), ("size/height", height)):
        if value <= 0 or value != int(value):
            raise Rejected(field, f"{value:g} is not a positive whole number of pixels")
    return int(width), int(height)


def _flag(element: etree._Element, tag: str, field: str) -> bool:
    text = (element.findtext(tag) or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Rejected(field, f"{text!r} is not 0 or 1")


def _objects(root: etree._Element) -> list[Box]:
    objects = []
    for index, obj in enumerate(root.findall("object"), start=1):
        where = f"object[{index}]"
        name = (obj.findtext("name") or "").strip()
        if not name:
            raise Rejected(f"{where}/name", "missing class name")
        box = obj.find("bndbox")
        if box is None:
            raise Rejected(f"{where}/bndbox", "missing")
        coords = [_number(box.find(tag), f"{where}/bndbox/{tag}") for tag in ("xmin", "ymin", "xmax", "ymax")]
        objects.append(
            Box(
                name,
                *coords,
                difficult=_flag(obj, "difficult", f"{where}/difficult"),
                truncated=_flag(obj, "truncated", f"{where}/truncated"),
            )
        )
    return objects
