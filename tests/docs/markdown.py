"""Just enough Markdown for the docs' checks: fenced code blocks, tables, links and heading anchors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PAGES = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]

_FENCE = re.compile(r"^```(\S*)\s*$")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language tag and its text."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a page, in order."""
    found: list[Block] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = _FENCE.match(line)
        if lang is None:
            if match:
                lang, start, body = match.group(1), number, []
        elif line.strip() == "```":
            found.append(Block(path, start, lang, "\n".join(body)))
            lang = None
        else:
            body.append(line)
    assert lang is None, f"{path.name}:{start}: unclosed code block"
    return found


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


def following(block: Block) -> Block | None:
    """The code block right after ``block`` on its page (its output, by the docs' convention)."""
    page = blocks(block.path)
    index = page.index(block)
    return page[index + 1] if index + 1 < len(page) else None


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in ``text``, as lists of stripped cells."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|") or re.fullmatch(r"\|[\s:|-]+\|", line):
            continue
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def links(path: Path) -> list[str]:
    """The targets of the page's Markdown links (not images), code blocks excluded."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return _LINK.findall(text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the page's headings."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    found = set()
    for heading in re.findall(r"^#+\s+(.*)$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        found.add(slug.replace(" ", "-"))
    return found
