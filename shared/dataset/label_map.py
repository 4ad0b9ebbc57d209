"""The TF OD API label map (`pascal_label_map.pbtxt`): read, write, and grow without renumbering."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from shared.dataset.problems import Rejected

_TOKEN = re.compile(
    r"""\s*(?:(?P<comment>\#[^\n]*)|(?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")"""
    r"""|(?P<number>-?\d+(?:\.\d+)?)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[{}:<>]))""",
)
_KNOWN_FIELDS = {"id", "name", "display_name"}


@dataclass(frozen=True)
class LabelMapItem:
    id: int
    name: str
    display_name: str | None = None


@dataclass(frozen=True)
class LabelMap:
    items: tuple[LabelMapItem, ...] = ()

    def __post_init__(self) -> None:
        ids = [item.id for item in self.items]
        names = [item.name for item in self.items]
        if len(set(ids)) != len(ids):
            raise Rejected("item/id", f"duplicate ids {sorted(i for i in ids if ids.count(i) > 1)}")
        if len(set(names)) != len(names):
            raise Rejected("item/name", f"duplicate names {sorted({n for n in names if names.count(n) > 1})}")
        if any(i < 1 for i in ids):
            raise Rejected("item/id", "ids start at 1 (0 is the background class in the TF OD API)")

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.items]

    def id_of(self, name: str) -> int | None:
        return next((item.id for item in self.items if item.name == name), None)

    def extended(self, names: Iterable[str]) -> LabelMap:
        """Append classes not yet present, in the order given, after the largest id; keep every id."""
        items = list(self.items)
        next_id = max((item.id for item in items), default=0) + 1
        for name in names:
            if name not in self.names and name not in {item.name for item in items}:
                items.append(LabelMapItem(next_id, name))
                next_id += 1
        return LabelMap(tuple(items))

    def merged(self, newer: LabelMap) -> LabelMap:
        """Add `newer`'s classes (keeping their display names); ids already given never change."""
        grown = self.extended(newer.names)
        display = {item.name: item.display_name for item in newer.items if item.display_name}
        return LabelMap(
            tuple(
                LabelMapItem(i.id, i.name, i.display_name or display.get(i.name)) for i in grown.items
            )
        )

    def to_pbtxt(self) -> str:
        blocks = []
        for item in sorted(self.items, key=lambda i: i.id):
            lines = [f"  id: {item.id}", f"  name: {_quote(item.name)}"]
            if item.display_name:
                lines.append(f"  display_name: {_quote(item.display_name)}")
            blocks.append("item {\n" + "\n".join(lines) + "\n}\n")
        return "\n".join(blocks)

    def to_list(self) -> list[dict[str, object]]:
        return [
            {"id": i.id, "name": i.name, **({"display_name": i.display_name} if i.display_name else {})}
            for i in sorted(self.items, key=lambda i: i.id)
        ]

    @classmethod
    def from_list(cls, rows: Iterable[dict[str, object]]) -> LabelMap:
        return cls(
            tuple(LabelMapItem(int(r["id"]), str(r["name"]), r.get("display_name")) for r in rows)  # type: ignore[arg-type]
        )

    @classmethod
    def parse(cls, text: str) -> LabelMap:
        """Parse the text format of the OD API's StringIntLabelMap; raise Rejected naming the item."""
        tokens = list(_tokens(text))
        items: list[LabelMapItem] = []
        pos = 0
        while pos < len(tokens):
            if tokens[pos] != ("ident", "item"):
                raise Rejected(f"item[{len(items) + 1}]", f"expected 'item {{', found {tokens[pos][1]!r}")
            pos = _expect(tokens, pos + 1, "{", len(items) + 1)
            fields, pos = _fields(tokens, pos, len(items) + 1)
            where = f"item[{len(items) + 1}]"
            if "id" not in fields or "name" not in fields:
                raise Rejected(where, "needs both id and name")
            try:
                item_id = int(fields["id"])
            except ValueError:
                raise Rejected(f"{where}/id", f"{fields['id']!r} is not an integer") from None
            items.append(LabelMapItem(item_id, fields["name"], fields.get("display_name")))
        return cls(tuple(items))


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            return
        match = _TOKEN.match(text, pos)
        if not match:
            line = text.count("\n", 0, pos) + 1
            raise Rejected(f"line {line}", f"unexpected text {text[pos:pos + 20].strip()!r}")
        pos = match.end()
        kind = match.lastgroup
        if kind != "comment":
            yield kind, match.group(kind)  # type: ignore[misc]


def _expect(tokens: list[tuple[str, str]], pos: int, punct: str, index: int) -> int:
    if pos >= len(tokens) or tokens[pos][1] != punct:
        raise Rejected(f"item[{index}]", f"expected {punct!r}")
    return pos + 1


def _fields(tokens: list[tuple[str, str]], pos: int, index: int) -> tuple[dict[str, str], int]:
    """Read `key: value` pairs up to the closing brace; nested blocks of other fields are skipped."""
    fields: dict[str, str] = {}
    while pos < len(tokens) and tokens[pos][1] != "}":
        kind, key = tokens[pos]
        if kind != "ident":
            raise Rejected(f"item[{index}]", f"expected a field name, found {key!r}")
        pos += 1
        if pos < len(tokens) and tokens[pos][1] == ":":
            pos += 1
        if pos < len(tokens) and tokens[pos][1] in "{<":
            pos = _skip_block(tokens, pos)
            continue
        if pos >= len(tokens):
            raise Rejected(f"item[{index}]/{key}", "missing value")
        value_kind, value = tokens[pos]
        pos += 1
        if key in _KNOWN_FIELDS:
            if key in fields:
                raise Rejected(f"item[{index}]/{key}", "given twice")
            fields[key] = _unquote(value) if value_kind == "string" else value
    return fields, _expect(tokens, pos, "}", index)


def _skip_block(tokens: list[tuple[str, str]], pos: int) -> int:
    depth = 0
    while pos < len(tokens):
        if tokens[pos][1] in "{<":
            depth += 1
        elif tokens[pos][1] in "}>":
            depth -= 1
            if depth == 0:
                return pos + 1
        pos += 1
    raise Rejected("item", "unclosed block")
