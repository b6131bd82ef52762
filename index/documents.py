"""What gets indexed for a passage, and the sentence spans used to pick the answering sentence."""

from __future__ import annotations

import hashlib
import re

from corpus.models import Passage
from corpus.text import SENTENCE_END

# "text": the paragraph alone; "title+text": the article title (and section) as context before it.
DOCUMENT_FORMATS = ("text", "title+text", "title+section+text")
_SPAN_RE = re.compile(rf"[^{SENTENCE_END}\n]+(?:[{SENTENCE_END}]+[」』）)]*)?")


def document_text(passage: Passage, fmt: str) -> str:
    """The text embedded and BM25-indexed for a passage; the passage text is always last."""
    if fmt == "text":
        return passage.text
    parts = [passage.title]
    if fmt == "title+section+text" and passage.section:
        parts.append(passage.section)
    return " / ".join(parts) + "\n" + passage.text


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of the sentences of ``text`` (split after 。！？!?)."""
    spans = []
    for match in _SPAN_RE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans or [(0, len(text))]


def embedding_key(model: str, document: str, sentences: list[str]) -> str:
    """Key under which a passage's embeddings are reused: same model and same embedded texts."""
    return hashlib.sha1("\x00".join([model, document, *sentences]).encode()).hexdigest()
