"""What gets embedded and BM25-indexed for a passage, and the key under which its vectors are reused."""

from __future__ import annotations

import hashlib
from typing import Literal

from corpus.models import Passage

# "text": the paragraph alone; "title+text": the article title (and section) as context before it.
DocumentFormat = Literal["text", "title+text", "title+section+text"]


def document_text(passage: Passage, fmt: DocumentFormat) -> str:
    """The text embedded and BM25-indexed for a passage; the passage text is always last."""
    if fmt == "text":
        return passage.text
    parts = [passage.title]
    if fmt == "title+section+text" and passage.section:
        parts.append(passage.section)
    return " / ".join(parts) + "\n" + passage.text


def sentence_document(title: str, sentence: str) -> str:
    """What is embedded for one sentence: the article title as context, then the sentence."""
    return f"{title}\n{sentence}"


def embedding_key(model: str, document: str, sentences: list[str]) -> str:
    """Key under which a passage's embeddings are reused: same model and same embedded texts."""
    return hashlib.sha1("\x00".join([model, document, *sentences]).encode()).hexdigest()
