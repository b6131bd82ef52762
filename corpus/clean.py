"""Turn a post's raw body lines into paragraphs: drop chunk markers and markdown, split collapsed lines,
rejoin paragraphs that a generation chunk cut off."""

from __future__ import annotations

import re
from dataclasses import dataclass

from corpus.text import BROKEN_CHAR, is_cut, normalize

CHUNK_MARKER = re.compile(r"^-{3}\s*END\s*-{3}$")
_ATX_HEADING = re.compile(r"^#{1,6}(?:\s+(.*?))?\s*#*$")
_BOLD_LINE = re.compile(r"^\*\*([^*]*)(?:\*\*)?$")
_INLINE_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CONTINUATION = re.compile(r"^(?:\.\.\.|…)\s*")
# A whole article pasted onto one line: paragraphs end in 。 (or ？！」) and the next starts after a space.
_COLLAPSED_BREAK = re.compile(r"(?<=[。！？!?」』])\s+(?=\S)")
# Characters that cannot start a Japanese sentence: a chunk that begins with one continues the previous one.
_NON_INITIAL = set("のをにがはとでもへやかねよ、。）」』")
MAX_HEADING_CHARS = 120


@dataclass
class Paragraph:
    """A paragraph of one post as it stands in the raw file, before dedup."""

    article_id: str
    text: str
    lines: list[int]
    section: str | None
    order: int = 0


@dataclass
class CleanStats:
    """What cleaning one post did."""

    raw_lines: int = 0
    markers: int = 0
    headings: int = 0
    collapsed_lines: int = 0
    continuations_joined: int = 0


def _heading(line: str) -> str | None:
    """The heading text of a markdown heading line ('' for an empty heading), else None."""
    match = _ATX_HEADING.match(line)
    if match is None and len(line) <= MAX_HEADING_CHARS:
        match = _BOLD_LINE.match(line)
    if match is None:
        return None
    return (match.group(1) or "").replace(BROKEN_CHAR, "").strip()


def _join(head: str, tail: str) -> str:
    """Join a cut paragraph and its continuation, dropping the text they overlap on."""
    head = head.rstrip().rstrip(BROKEN_CHAR)
    for size in range(min(len(head), len(tail)), 0, -1):
        if head.endswith(tail[:size]):
            return head + tail[size:]
    return head + tail


def clean_body(article_id: str, title: str, body: list[tuple[int, str]]) -> tuple[list[Paragraph], CleanStats]:
    """Paragraphs of one post body, in order, with their section and source line numbers."""
    stats = CleanStats(raw_lines=len(body))
    paragraphs: list[Paragraph] = []
    section: str | None = None
    after_marker = False
    title_key = normalize(title)
    for lineno, raw in body:
        line = raw.strip()
        if not line:
            continue
        if CHUNK_MARKER.match(line):
            stats.markers += 1
            after_marker = True
            continue
        heading = _heading(line)
        if heading is not None:
            if heading:  # an empty one ("###") is dropped and leaves the section as it was
                stats.headings += 1
                section = heading
            continue
        text = _INLINE_BOLD.sub(r"\1", line).replace("**", "")
        continued = bool(_CONTINUATION.match(text))
        text = _CONTINUATION.sub("", text)
        pieces = _COLLAPSED_BREAK.split(text) if "。 " in text else [text]
        if len(pieces) > 1:
            stats.collapsed_lines += 1
        for index, piece in enumerate(pieces):
            piece = piece.strip()
            if normalize(piece).rstrip("?？") == title_key.rstrip("?？") or (
                title_key.startswith(normalize(piece).rstrip(BROKEN_CHAR)) and len(piece) >= 10
            ):
                continue  # the title repeated in the body
            previous = paragraphs[-1] if paragraphs else None
            joins = (
                index == 0
                and previous is not None
                and is_cut(previous.text)
                and (continued or (after_marker and piece[:1] in _NON_INITIAL))
            )
            if joins and previous is not None:
                previous.text = _join(previous.text, piece)
                previous.lines.append(lineno)
                stats.continuations_joined += 1
            else:
                paragraphs.append(Paragraph(article_id, piece, [lineno], section))
        after_marker = False
    for order, paragraph in enumerate(paragraphs):
        paragraph.order = order
    return paragraphs, stats
