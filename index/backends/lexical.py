"""Lexical backend: BM25 (bm25s) over fugashi tokens."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Self

import numpy as np

from index.backends.base import Documents, Hits, Queries, check_mask
from index.tokenize import TokenForm, japanese_tokenizer

OPTIONS_FILE = "tokenizer.json"


def _import_bm25s():  # type: ignore[no-untyped-def]
    import bm25s

    # bm25s sets its own logger to DEBUG on import, which bypasses the application's log level.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


class BM25Backend:
    """BM25 over Japanese tokens; English words match only where the text has them."""

    name = "bm25"

    def __init__(self, form: TokenForm = "surface", drop_stopwords: bool = True) -> None:
        self.form: TokenForm = form
        self.drop_stopwords = drop_stopwords
        self.tokenize = japanese_tokenizer(form, drop_stopwords)
        self._bm25 = None

    def build(self, docs: Documents) -> None:
        bm25s = _import_bm25s()

        self._bm25 = bm25s.BM25()
        self._bm25.index([self.tokenize(t) for t in docs.texts], show_progress=False)

    @property
    def size(self) -> int:
        """Number of indexed rows."""
        return 0 if self._bm25 is None else int(self._bm25.scores["num_docs"])

    def scores(self, text: str) -> np.ndarray:
        """BM25 score of every row for one query (zeros when no query word is in the index)."""
        if self._bm25 is None:
            raise RuntimeError("BM25 index is not built: call build() or load() first")
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in self.tokenize(text) if t in vocab]
        if not ids:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(ids), dtype=np.float32)

    def search(self, queries: Queries, k: int, allowed_rows: np.ndarray | None = None) -> list[Hits]:
        mask = check_mask(allowed_rows, self.size)
        out = []
        for text in queries.texts:
            scores = self.scores(text)
            if mask is not None:
                scores = np.where(mask, scores, 0.0).astype(np.float32)  # a masked row can never score > 0
            k_eff = min(k, len(scores))
            top = np.argpartition(-scores, k_eff - 1)[:k_eff] if k_eff else np.array([], dtype=int)
            top = top[np.argsort(-scores[top], kind="stable")]
            out.append([(int(i), float(scores[i])) for i in top if scores[i] > 0])
        return out

    def save(self, folder: Path) -> None:
        if self._bm25 is None:
            raise RuntimeError("BM25 index is not built: nothing to save")
        self._bm25.save(str(folder), show_progress=False)
        (folder / OPTIONS_FILE).write_text(
            json.dumps({"form": self.form, "drop_stopwords": self.drop_stopwords}), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder: Path, **options: Any) -> Self:
        bm25s = _import_bm25s()
        saved = json.loads((folder / OPTIONS_FILE).read_text(encoding="utf-8"))
        backend = cls(**{**saved, **options})
        backend._bm25 = bm25s.BM25.load(str(folder), show_progress=False, verbosity=0)
        return backend
