"""Japanese tokenization for the lexical index: fugashi + unidic-lite, NFKC, lower-cased."""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

TokenForm = Literal["surface", "lemma"]
Tokenizer = Callable[[str], list[str]]

# Parts of speech that carry no topic: particles, auxiliaries, symbols, whitespace.
STOP_POS = frozenset({"助詞", "助動詞", "補助記号", "記号", "空白"})


@lru_cache(maxsize=1)
def _tagger():  # type: ignore[no-untyped-def]
    try:
        import fugashi
        import unidic_lite
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError(f"fugashi/unidic-lite are not installed ({exc}): pip install fugashi unidic-lite") from None
    return fugashi.Tagger(f"-d {unidic_lite.DICDIR}")


_lock = threading.Lock()  # MeCab taggers are not thread-safe


def japanese_tokenizer(form: TokenForm = "surface", drop_stopwords: bool = True) -> Tokenizer:
    """A tokenizer (text → tokens) using surface forms or lemmas, optionally without particles and symbols."""

    def tokenize(text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).lower()
        tokens = []
        with _lock:
            words = [(w.surface, w.feature.pos1, getattr(w.feature, "lemma", None)) for w in _tagger()(text)]
        for surface, pos, lemma in words:
            if drop_stopwords and pos in STOP_POS:
                continue
            token = surface if form == "surface" or not lemma or lemma == "*" else lemma.lower()
            # unidic lemmas of loanwords carry an English gloss after a hyphen ("チップ-chip"); keep the word.
            token = token.split("-", 1)[0] if form == "lemma" and token != "-" else token
            if token.strip():
                tokens.append(token)
        return tokens

    return tokenize
