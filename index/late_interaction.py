"""Token-level matching ("late interaction", as in ColBERT): how well each word of a question is met in a passage.

The passage vector of e5 averages all its tokens, so a question about one detail of a long paragraph meets a
blurred match. Here every question token looks for its most similar token of the passage (cosine of the
encoder's last hidden states, the same forward pass that gives the pooled vectors), and the passage scores
the mean of those best matches: MaxSim. The ranking stage reads it as one more feature (index/features.py).

Tokens that carry no content on either side are left out: bare word-start markers, punctuation and symbols,
single hiragana (particles, okurigana) and English function words. That keeps 70 % of a passage's tokens and
64 % of a question's, and scores as well on dev as keeping them all (index/model/training/README.md).

The index stores each passage's content-token vectors (``TokenTable``, float32, memory-mapped when served).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from index.features import ENGLISH_STOPWORDS
from index.model.base import TokenEncoding


@dataclass
class TokenTable:
    """Every passage's content-token vectors: rows ``offsets[i]:offsets[i + 1]`` of ``vectors`` are passage i's."""

    offsets: np.ndarray  # (passages + 1,) int64
    vectors: np.ndarray  # (tokens, dimension) float32 unit rows

    def block(self, row: int) -> np.ndarray:
        """Passage ``row``'s token vectors."""
        return self.vectors[int(self.offsets[row]) : int(self.offsets[row + 1])]

    @classmethod
    def from_blocks(cls, blocks: list[np.ndarray], dimension: int) -> TokenTable:
        """One table from per-passage blocks, in row order."""
        offsets = np.cumsum([0] + [len(b) for b in blocks]).astype(np.int64)
        vectors = np.concatenate(blocks).astype(np.float32) if blocks else np.zeros((0, dimension), np.float32)
        return cls(offsets, vectors.reshape(-1, dimension))


def is_content(piece: str) -> bool:
    """Whether a token's piece text carries content (see the module docstring for what does not)."""
    text = piece.strip()
    if not text or all(unicodedata.category(ch)[0] in "PSZ" for ch in text):
        return False
    if len(text) == 1 and "\u3040" <= text <= "\u309f":  # one hiragana
        return False
    return text.lower() not in ENGLISH_STOPWORDS


def content_tokens(encoding: TokenEncoding) -> list[np.ndarray]:
    """Per text, the vectors of its content tokens (all of its tokens when none carries content)."""
    out = []
    for tokens, pieces in zip(encoding.tokens, encoding.pieces):
        keep = np.fromiter((is_content(p) for p in pieces), dtype=bool, count=len(pieces))
        out.append(np.ascontiguousarray(tokens[keep] if keep.any() else tokens, dtype=np.float32))
    return out


COLUMN_MULTIPLE = 8  # question tokens are padded to a multiple of this (see maxsim)


def maxsim(table: TokenTable, rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Per passage of ``rows``: the mean over the question's tokens of their best cosine with the passage's tokens.

    ``query`` is the question's content-token vectors (unit rows); 0.0 for a passage or question without tokens.
    Passages next to each other in the table are scored with one product: a pool of ~70 passages falls into
    ~30 such spans (20 % faster than one product per passage).
    """
    rows = np.asarray(rows, dtype=np.int64)
    out = np.zeros(len(rows), dtype=np.float32)
    starts, ends = table.offsets[rows], table.offsets[rows + 1]
    present = np.flatnonzero(ends > starts)
    if not len(query) or not len(present):
        return out
    order = present[np.argsort(starts[present], kind="stable")]
    first, last = starts[order], ends[order]
    breaks = np.flatnonzero(first[1:] != last[:-1]) + 1  # where the next passage does not follow the previous
    # Zero columns pad the question to a multiple of COLUMN_MULTIPLE tokens: OpenBLAS runs such products faster
    # than an odd width (12 columns take longer than 16); the padding's columns are dropped before the mean.
    count = len(query)
    columns = np.zeros((query.shape[1], -(-count // COLUMN_MULTIPLE) * COLUMN_MULTIPLE), dtype=np.float32)
    columns[:, :count] = query.T
    for span in np.split(np.arange(len(order)), breaks):
        begin = int(first[span[0]])
        products = table.vectors[begin : int(last[span[-1]])] @ columns  # (span's tokens, padded question tokens)
        best = np.maximum.reduceat(products, first[span] - begin, axis=0)  # per passage, per question token
        out[order[span]] = best[:, :count].mean(axis=1)
    return out
