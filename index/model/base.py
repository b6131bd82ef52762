"""The interface every embedding model implements, and the error it raises when it cannot load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np

TextKind = Literal["query", "passage"]  # which prompt a text gets


@dataclass(frozen=True)
class TokenEncoding:
    """Texts' pooled vectors and, per text, the vectors of its own tokens from the same forward pass.

    A text's tokens leave out the special tokens and the prompt; ``pieces`` are their subword texts with the
    tokenizer's word-start marker removed (" " for a bare marker), so a caller can tell words from punctuation.
    """

    vectors: np.ndarray  # (n, dimension) float32 unit rows: what encode_queries / encode_passages give
    tokens: list[np.ndarray]  # per text, (its tokens, dimension) float32 unit rows
    pieces: list[list[str]]  # per text, one string per row of its tokens


class ModelError(RuntimeError):
    """The embedding model cannot be found, built or loaded (the message says what to do)."""


@runtime_checkable
class Encoder(Protocol):
    """Turns questions and passages into unit-length float32 vectors of one model."""

    name: str  # the model name recorded in index manifests, e.g. "multilingual-e5-small"
    variant: str  # what produced the vectors, e.g. "torch-fp32"

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """(n, dimension) float32 unit rows for questions (with the model's query prompt)."""
        ...

    def encode_passages(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """(n, dimension) float32 unit rows for passages (with the model's passage prompt)."""
        ...

    def encode_tokens(
        self, texts: list[str], kind: TextKind, batch_size: int = 32, show_progress: bool = False
    ) -> TokenEncoding:
        """Pooled vectors (as above) and every text's token vectors, from one forward pass."""
        ...


def text_tokens(
    ids: list[int], hidden: np.ndarray, special_ids: set[int], prompt_length: int, piece: Callable[[int], str]
) -> tuple[np.ndarray, list[str]]:
    """One text's token vectors (unit rows) and piece texts: its special tokens and first ``prompt_length`` dropped.

    ``hidden`` holds the last hidden state of ``ids``' positions; ``piece`` gives a token id's subword text.
    """
    keep = [i for i, token in enumerate(ids) if token not in special_ids][prompt_length:]
    rows = np.asarray(hidden[keep], dtype=np.float32).reshape(len(keep), hidden.shape[-1])
    rows /= np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
    return rows, [_piece_text(piece(ids[i])) for i in keep]


# Word-start markers of SentencePiece ("▁"), byte-level BPE ("Ġ") and WordPiece continuations ("##").
_MARKERS = str.maketrans({"\u2581": " ", "\u0120": " "})


def _piece_text(piece: str) -> str:
    return piece.removeprefix("##").translate(_MARKERS).strip() or " "


def vector_group(variant: str) -> str:
    """Which variants make interchangeable vectors: "fp32" (torch-fp32, onnx-fp32; parity ≥ 0.9999) or "int8".

    Vectors of one group may be mixed in an index; vectors of two groups may not (the key of a reused
    embedding and the index manifest both carry the group).
    """
    return "int8" if variant.endswith("int8") else "fp32"
