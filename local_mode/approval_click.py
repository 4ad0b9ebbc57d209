"""Approving as a person does: open the approval page from the chat message, fill in the form, press a button.

What `--auto-approve` does, through the same page and form a person would use (no JavaScript on the page, so
plain HTTP is the whole of it).
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin


class _Form(HTMLParser):
    """The page's decision form: its action, its fields and its buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.buttons: dict[str, tuple[str, str]] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            self._in_form, self.action = True, a.get("action", "")
        elif self._in_form and tag in ("input", "textarea") and a.get("name"):
            self.fields[a["name"]] = a.get("value", "")
        elif self._in_form and tag == "button" and a.get("name"):
            self.buttons[a["value"]] = (a["name"], a["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def _fetch(request: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def decide_through_page(link: str, approver: str, decision: str = "approve", comment: str = "") -> tuple[int, str]:
    """(status, what the answer page says in plain text)."""
    status, page = _fetch(urllib.request.Request(link, headers={"Accept": "text/html"}))
    form = _Form()
    form.feed(page)
    if status != 200 or form.action is None or decision not in form.buttons:
        return status, text_of(page)
    fields = dict(form.fields) | ({"approver": approver} if "approver" in form.fields else {})
    fields |= {"comment": comment, form.buttons[decision][0]: decision}
    target = urljoin(link, form.action) if form.action else link
    status, answer = _fetch(urllib.request.Request(target, data=urlencode(fields).encode(), method="POST", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}))
    return status, text_of(answer)


def text_of(html: str) -> str:
    """The readable text of a page's body (for printing what it said, once: the title repeats its heading)."""
    body = re.sub(r"(?s)<(style|script|title)\b.*?</\1>", " ", html)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())
