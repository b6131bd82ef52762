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


def embedding_key(model: str, document: str, sentences: list[str], group: str = "fp32") -> str:
    """Key under which a passage's embeddings are reused: same model, vector group and embedded texts.

    ``group`` is ``index.model.vector_group`` of the encoder's variant: int8 vectors are never reused for
    float32 ones (or back). Float32 keys are those of indexes built before variants existed.
    """
    parts = [model, document, *sentences] if group == "fp32" else [model, f"vectors:{group}", document, *sentences]
    return hashlib.sha1("\x00".join(parts).encode()).hexdigest()
