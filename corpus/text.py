"""Text primitives shared by cleaning, dedup, retrieval and eval: normalisation, sentences, n-grams."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Set

BROKEN_CHAR = "\ufffd"
SENTENCE_END = "。！？!?"
# What a complete paragraph may end with: sentence punctuation, or closing brackets/quotes after it.
PARAGRAPH_END = SENTENCE_END + "」』）)】\"'…"
# A sentence: text up to 。！？!? (with the closing brackets after them), or up to the line's end.
_SENTENCE_RE = re.compile(rf"[^{SENTENCE_END}\n]+(?:[{SENTENCE_END}]+[」』）)]*)?")
_SPACE_RE = re.compile(r"\s+")


def normalize(text: str) -> str:
    """NFKC, collapse whitespace, drop broken characters: the form texts are compared and hashed in."""
    text = unicodedata.normalize("NFKC", text).replace(BROKEN_CHAR, "")
    return _SPACE_RE.sub(" ", text).strip()


def passage_id(text: str) -> str:
    """Stable id of a passage: derived from its normalised text only."""
    return hashlib.sha1(normalize(text).encode("utf-8")).hexdigest()[:16]


def _spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for match in _SENTENCE_RE.finditer(text):
        start, end = match.span()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def split_sentences(text: str) -> list[str]:
    """Split after 。！？!? (keeping closing brackets with their sentence) and at line ends."""
    return [text[s:e] for s, e in _spans(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of ``split_sentences(text)``; the whole text when it has none."""
    return _spans(text) or [(0, len(text))]


def char_ngrams(text: str, n: int = 5) -> set[str]:
    """Character n-grams of the normalised text (the whole text when it is shorter than n)."""
    norm = normalize(text).replace(" ", "")
    if len(norm) < n:
        return {norm} if norm else set()
    return {norm[i : i + n] for i in range(len(norm) - n + 1)}


def containment(part: Set[str], whole: Set[str]) -> float:
    """Share of ``part``'s n-grams that occur in ``whole`` (1.0 when ``part`` is empty)."""
    if not part:
        return 1.0
    return len(part & whole) / len(part)


def is_cut(text: str) -> bool:
    """True when a paragraph stops mid-sentence (broken last character or no closing punctuation)."""
    stripped = text.rstrip()
    return not stripped or stripped.endswith(BROKEN_CHAR) or stripped[-1] not in PARAGRAPH_END
