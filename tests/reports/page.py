"""Reading a report page back with the standard library's HTML parser: every tag and
attribute, the text, the headline cards and each section's table, and a check that every
element is closed where it should be."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"meta", "br", "hr", "img", "input", "link", "source", "wbr", "col", "area", "base"}
SVG_LEAVES = {"rect", "line", "path", "circle"}


@dataclass
class Table:
    section: str
    rows: list[list[str]] = field(default_factory=list)


class Page(HTMLParser):
    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.cards: dict[str, tuple[str, str]] = {}  # title -> (big, sub)
        self.tables: list[Table] = []
        self.problems: list[str] = []
        self._open: list[str] = []
        self._section = ""
        self._in: list[str] = []  # what text goes to: h2, h3, big, sub, cell
        self._card: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] = []
        self.feed(text)
        self.close()
        if self._open:
            self.problems.append(f"never closed: {self._open}")

    @property
    def all_text(self) -> str:
        return " ".join(self.text)

    def table(self, section: str) -> list[list[str]]:
        for t in self.tables:
            if t.section == section:
                return t.rows
        raise AssertionError(f"no table under {section!r}: {[t.section for t in self.tables]}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        cls = dict(attrs).get("class") or ""
        if tag not in VOID:
            self._open.append(tag)
        if tag == "h2":
            self._in.append("h2")
            self._section = ""
        elif tag == "h3":
            self._in.append("h3")
            self._card = []
        elif tag == "p" and cls.startswith("big"):
            self._in.append("big")
        elif tag == "p" and cls == "sub":
            self._in.append("sub")
        elif tag == "table":
            self.tables.append(Table(self._section))
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._in.append("cell")
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self._open or self._open[-1] != tag:
            self.problems.append(f"</{tag}> closes {self._open[-1:] or 'nothing'}")
            return
        self._open.pop()
        if tag in ("h2", "h3") or (tag == "p" and self._in and self._in[-1] in ("big", "sub")):
            self._in.pop()
        if tag == "h3":
            self.cards[" ".join(self._card)] = ("", "")
        if tag in ("td", "th") and self._row is not None:
            self._in.pop()
            self._row.append(" ".join("".join(self._cell).split()))
        if tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())
        where = self._in[-1] if self._in else None
        if where == "h2":
            self._section += data
        elif where == "h3":
            self._card.append(data.strip())
        elif where in ("big", "sub") and self.cards:
            title = list(self.cards)[-1]
            big, sub = self.cards[title]
            self.cards[title] = (big + data, sub) if where == "big" else (big, sub + data)
        elif where == "cell":
            self._cell.append(data)
