"""Features of (question, candidate passage) pairs over a candidate pool, vectorised per question.

Every feature is a column of one float32 matrix (rows: the pool's passages, in pool order). Absolute
features say how similar a passage is to the question; the ``rel_`` copies subtract the pool's best, so
the ranker sees how a passage compares with its competitors. The abstention model reads only absolute
values (``abstention_features``): pool-relative scores make every pool's top passage look good.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from index.fusion import japanese_share

# Columns that also get a pool-relative copy ("rel_" + name: value minus the pool's maximum).
ABSOLUTE = (
    "cos",
    "sent1",
    "sent2",
    "bm25",
    "bm25_bridge",
    "char_bm25",
    "coverage",
    "latin",
    "maxsim",  # token-level match (index/late_interaction.py)
)
# The JMdict bridge (index/lexicon.py) of English questions: BM25 of the question's phrases turned into the
# corpus's Japanese words, and the share of those phrases a passage contains (zeros for Japanese questions).
JMDICT_FEATURES: tuple[str, ...] = (
    "bm25_jmdict",
    "rel_bm25_jmdict",
    "en_jmdict_norm",
    "jmdict_coverage",
    "rel_jmdict_coverage",
)
# Where the passage stands in its article: an article's first paragraph introduces the whole post, so it
# resembles every question about the post while rarely being the paragraph that answers one.
POSITION_FEATURES: tuple[str, ...] = ("lead",)
FEATURES: tuple[str, ...] = (
    *ABSOLUTE,
    *(f"rel_{name}" for name in ABSOLUTE),
    "bm25_norm",
    "char_bm25_norm",
    "ja_bm25_norm",  # the lemma BM25 only for Japanese questions (× the question's Japanese share)
    "en_bridge_norm",  # the bridged BM25 only for English questions
    *JMDICT_FEATURES,
    *POSITION_FEATURES,
)

# Words of two or more letters (a lone letter is usually a possessive's "s") and numbers.
_LATIN = re.compile(r"[a-z][a-z0-9\-\.]*[a-z0-9]|\d+(?:\.\d+)?")
ENGLISH_STOPWORDS = frozenset(
    "a an the of to in on for and or is are was were be been by with as at from that this what which who whom "
    "how why when where does do did doing has have had it its their they them his her he she we you i can could "
    "would should will may might about into than then so such there these those not no more most much many "
    "according article post author say says said".split()
)


def latin_terms(text: str) -> set[str]:
    """Latin words (not stopwords) and numbers of a text, NFKC-folded and lower-cased."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return {t for t in _LATIN.findall(folded) if t not in ENGLISH_STOPWORDS}


_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_SENTENCE_END = re.compile(r"[.?!。？！]\s*")


def name_terms(text: str, common: Callable[[str], bool] | None = None) -> set[str]:
    """Words that look like names: Latin words in a Japanese question; capitalised, not sentence-first, in English.

    Lower-cased, so they can be looked up in the corpus's Latin terms (``latin_terms``). ``common`` (given the
    word as written) leaves out words it calls common.
    """
    folded = unicodedata.normalize("NFKC", text)
    if japanese_share(folded) > 0:  # any kana or kanji: a Japanese question, whose Latin words are all names
        names = [w for w in _NAME.findall(folded) if len(w) > 1]
    else:
        names = []
        for sentence in _SENTENCE_END.split(folded):
            words = _NAME.findall(sentence)
            names += [w for w in words[1:] if len(w) > 1 and any(c.isupper() for c in w)]
    # Two-letter capitals (US, DC, UK, GB) are abbreviations and units that the Japanese posts write in
    # Japanese (米国, データセンター): not being spelled in Latin in the corpus says nothing about the topic.
    names = [w for w in names if not (len(w) == 2 and w.isupper()) and not (common and common(w))]
    return {w.lower() for w in names} - ENGLISH_STOPWORDS


def char_bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of the NFKC-folded, lower-cased text, whitespace dropped."""
    folded = "".join(unicodedata.normalize("NFKC", text).lower().split())
    return [folded[i : i + 2] for i in range(len(folded) - 1)]


class CharBigramBM25:
    """BM25 (bm25s) over character bigrams: matches words the morphological tokenizer splits differently."""

    def __init__(self, texts: list[str]) -> None:
        import bm25s

        self._bm25 = bm25s.BM25()
        self._bm25.index([char_bigrams(t) or ["\0"] for t in texts], show_progress=False)
        self._size = len(texts)

    def scores(self, text: str) -> np.ndarray:
        """Score of every passage for ``text`` (zeros when no bigram is known)."""
        vocab = self._bm25.vocab_dict
        ids = [vocab[g] for g in dict.fromkeys(char_bigrams(text)) if g in vocab]
        if not ids:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(ids), dtype=np.float32)


class GlossBridge:
    """English words → the corpus's own Japanese lemmas, through UniDic's English glosses of loanwords.

    UniDic writes a loanword's lemma with its source word after a hyphen ("チップ-chip"), so the corpus
    itself says that "chip" is チップ; this lets BM25 match English questions against Japanese text.
    """

    def __init__(self, texts: list[str]) -> None:
        self.table: dict[str, set[str]] = {}
        for text in texts:
            for lemma, gloss in _glossed_lemmas(text):
                self.table.setdefault(gloss, set()).add(lemma)

    def translate(self, question: str) -> list[str]:
        """Japanese lemmas for the question's English words that the corpus glosses (may be empty)."""
        out: list[str] = []
        # In a fixed order: the lemmas become one BM25 query that fugashi tokenises in context, so a set's
        # hash-seeded order would give other scores in another process.
        for word in sorted(latin_terms(question)):
            for candidate in (word, word.rstrip("s")):
                if candidate in self.table:
                    out.extend(sorted(self.table[candidate]))
                    break
        return out


def _glossed_lemmas(text: str) -> list[tuple[str, str]]:
    """(lemma, English gloss) of every loanword of ``text`` whose UniDic lemma carries a gloss."""
    from index.tokenize import _lock, _tagger

    folded = unicodedata.normalize("NFKC", text).lower()
    with _lock:
        lemmas = [getattr(w.feature, "lemma", None) for w in _tagger()(folded)]
    out = []
    for lemma in lemmas:
        if lemma and "-" in lemma and lemma != "-":
            word, gloss = lemma.split("-", 1)
            gloss = gloss.lower().strip()
            if word and gloss.isascii() and gloss.isalpha() and len(gloss) > 2:
                out.append((word.lower(), gloss))
    return out


def best_two_sentences(offsets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per passage, its best and second-best sentence score (0 without sentences; second = best with one).

    ``scores[offsets[i]:offsets[i + 1]]`` are passage i's sentence scores; vectorised over all passages.
    """
    counts = np.diff(offsets)
    starts = offsets[:-1]
    best = np.zeros(len(counts), dtype=np.float32)
    second = np.zeros(len(counts), dtype=np.float32)
    has = counts > 0
    if not scores.size:
        return best, second
    best[has] = np.maximum.reduceat(scores, starts[has])
    owner = np.repeat(np.arange(len(counts)), counts)
    # Knock out each passage's first best sentence, then the maximum of the rest is the second best.
    at_best = np.flatnonzero(scores >= best[owner])
    _, first = np.unique(owner[at_best], return_index=True)
    rest = scores.astype(np.float32, copy=True)
    rest[at_best[first]] = -np.inf
    second[has] = np.maximum.reduceat(rest, starts[has])
    single = counts == 1
    second[single] = best[single]
    return best, second


@dataclass
class PassageTerms:
    """Per passage: its lemma set and its Latin terms (for coverage and overlap)."""

    lemmas: list[frozenset[str]]
    latin: list[frozenset[str]]
    vocabulary: frozenset[str]  # every Latin term of the corpus (and of the titles), for unknown names
    folded: list[str] = field(default_factory=list)  # NFKC-folded, lower-cased texts (for the JMdict coverage)
    lead: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per passage: its article's first
    lemma_df: dict[str, int] = field(default_factory=dict)  # passages holding each lemma

    def unknown_names(self, question: str, common: Callable[[str], bool] | None = None) -> int:
        """How many name-like words of the question the corpus never mentions (a near-domain question's tell).

        ``common`` says which words are common words rather than names (see ``whole_words`` in index/ranker.py):
        the corpus may write those in Japanese (British → 英国), so their absence in Latin letters says nothing.
        """
        known = self.vocabulary
        names = name_terms(question, common)
        return sum(1 for name in names if name not in known and name.removesuffix("s") not in known)

    def known_share(self, lemmas: frozenset[str]) -> float:
        """IDF-weighted share of the question's Japanese lemmas that occur anywhere in the corpus (1.0 for none).

        A lemma the corpus never uses weighs the most (df 0), so one unknown content word (親子丼, モンステラ)
        outweighs several known everyday ones; Latin words are left to ``unknown_names``.
        """
        size = len(self.lemmas)
        weights = {t: math.log((size + 1) / (self.lemma_df.get(t, 0) + 0.5)) for t in lemmas if not t.isascii()}
        total = sum(weights.values())
        if total <= 0:
            return 1.0
        return sum(w for t, w in weights.items() if self.lemma_df.get(t, 0)) / total


def passage_terms(
    texts: list[str],
    tokenize: Callable[[str], list[str]],
    titles: list[str] | None = None,
    paragraphs: list[int] | None = None,
) -> PassageTerms:
    """Lemma and Latin-term sets of every passage text (titles only widen the corpus vocabulary).

    ``paragraphs`` are the passages' 1-based ordinals in their articles (None: no passage is a lead).
    """
    latin = [frozenset(latin_terms(t)) for t in texts]
    terms = frozenset().union(*latin, *(latin_terms(t) for t in titles or []))
    # "gpt-4" in the text also vouches for "gpt" in a question.
    vocabulary = terms | {part for term in terms for part in re.split(r"[\-.]", term) if part}
    folded = [unicodedata.normalize("NFKC", t).lower() for t in texts]
    lead = np.asarray([p == 1 for p in paragraphs], dtype=bool) if paragraphs else np.zeros(len(texts), dtype=bool)
    lemmas = [frozenset(tokenize(t)) for t in texts]
    lemma_df = dict(Counter(lemma for passage in lemmas for lemma in passage))
    return PassageTerms(lemmas, latin, vocabulary, folded=folded, lead=lead, lemma_df=lemma_df)


@dataclass
class QuestionSignals:
    """What the features need about one question, computed once for the whole corpus."""

    text: str
    vector: np.ndarray
    bm25: np.ndarray  # lemma BM25 of every passage
    bm25_bridge: np.ndarray  # lemma BM25 of the question's glossed Japanese words (zeros for none)
    char_bm25: np.ndarray  # character-bigram BM25 of every passage
    lemmas: frozenset[str]
    latin: frozenset[str]
    unknown_names: int = 0  # name-like words of the question that the corpus never mentions
    bm25_jmdict: np.ndarray | None = None  # lemma BM25 of the question's JMdict-bridged words (None: none)
    jmdict_phrases: list[list[str]] = field(default_factory=list)  # per bridged English phrase, its Japanese forms
    known_share: float = 1.0  # IDF-weighted share of the question's Japanese lemmas the corpus uses anywhere

    @cached_property
    def japanese_share(self) -> float:
        """The question's share of Japanese characters (computed once; every feature family reads it)."""
        return japanese_share(self.text)


def pool_features(
    signals: QuestionSignals,
    rows: np.ndarray,
    passage_vectors: np.ndarray,
    sentence_scores: tuple[np.ndarray, np.ndarray],
    terms: PassageTerms,
    maxsim: np.ndarray,
) -> np.ndarray:
    """The (len(rows), len(FEATURES)) feature matrix of one question's pool.

    ``sentence_scores`` is (best, second best) sentence cosine per pool row (second = best when a passage
    has one sentence); ``maxsim`` the token-level match per pool row (``late_interaction.maxsim``).
    """
    n = len(rows)
    cos = passage_vectors[rows] @ signals.vector
    sent1, sent2 = sentence_scores
    bm25 = signals.bm25[rows]
    bridge = signals.bm25_bridge[rows]
    char = signals.char_bm25[rows]
    q_lemmas = signals.lemmas
    coverage = np.asarray(
        [len(q_lemmas & terms.lemmas[r]) / len(q_lemmas) if q_lemmas else 0.0 for r in rows], dtype=np.float32
    )
    q_latin = signals.latin
    latin = np.asarray(
        [len(q_latin & terms.latin[r]) / len(q_latin) if q_latin else 0.0 for r in rows], dtype=np.float32
    )
    absolute = np.stack([cos, sent1, sent2, bm25, bridge, char, coverage, latin, maxsim], axis=1).astype(np.float32)
    relative = absolute - (absolute.max(axis=0, keepdims=True) if n else 0.0)
    share = signals.japanese_share
    bm25_norm = bm25 / bm25.max() if n and bm25.max() > 0 else np.zeros(n, dtype=np.float32)
    char_norm = char / char.max() if n and char.max() > 0 else np.zeros(n, dtype=np.float32)
    bridge_norm = bridge / bridge.max() if n and bridge.max() > 0 else np.zeros(n, dtype=np.float32)
    extra = np.stack([bm25_norm, char_norm, share * bm25_norm, (1 - share) * bridge_norm], axis=1)
    jmdict = jmdict_features(signals, rows, terms)
    lead = terms.lead[rows] if len(terms.lead) else np.zeros(n, dtype=bool)
    return np.concatenate(
        [absolute, relative, extra.astype(np.float32), jmdict, lead[:, None].astype(np.float32)], axis=1
    )


def jmdict_features(signals: QuestionSignals, rows: np.ndarray, terms: PassageTerms) -> np.ndarray:
    """The (len(rows), len(JMDICT_FEATURES)) columns of the JMdict bridge: bridged BM25 and phrase coverage."""
    n = len(rows)
    if signals.bm25_jmdict is None or not signals.jmdict_phrases or not n:
        return np.zeros((n, len(JMDICT_FEATURES)), dtype=np.float32)
    bm25 = signals.bm25_jmdict[rows].astype(np.float32)
    top = float(bm25.max())
    norm = bm25 / top if top > 0 else np.zeros(n, dtype=np.float32)
    share = signals.japanese_share
    phrases = signals.jmdict_phrases
    # A phrase is covered when any of its Japanese forms occurs in the passage (forms are corpus substrings).
    coverage = np.asarray(
        [sum(any(f in terms.folded[r] for f in forms) for forms in phrases) / len(phrases) for r in rows],
        dtype=np.float32,
    )
    columns = [bm25, bm25 - top, (1 - share) * norm, coverage, coverage - coverage.max()]
    return np.stack(columns, axis=1).astype(np.float32)


# What the abstention and confidence models read: absolute similarity, never relative to the pool. The LoRA-adapted
# e5 spreads cosines differently for Japanese and English questions, so each similarity enters once per language
# (× the question's Japanese share, × its complement); the lexical signals mean something only in Japanese.
ABSTENTION_FEATURES: tuple[str, ...] = (
    "ja_max_cos",
    "en_max_cos",
    "ja_density",  # mean cosine of the nearest passages: is the question in the corpus's neighbourhood at all
    "en_density",
    "ja_share",
    "ja_max_bm25",
    "ja_known_share",  # how much of the question's content the corpus has words for
    "unknown_names",
)
_COLUMN = {name: i for i, name in enumerate(FEATURES)}  # feature name → its column in pool_features' matrix
MAX_UNKNOWN_NAMES = 2  # one unknown name already says much; more add little
DENSITY_NEIGHBOURS = 10


def corpus_density(cosines: np.ndarray, neighbours: int = DENSITY_NEIGHBOURS) -> float:
    """Mean of the ``neighbours`` highest cosines (all of them when there are fewer; 0.0 for none).

    Read from the pool's cosines: the pool holds the dense top-N (N ≥ ``neighbours``), so these are the
    question's nearest passages in the whole corpus without another pass over every vector.
    """
    if not cosines.size:
        return 0.0
    k = min(neighbours, cosines.size)
    return float(np.partition(cosines, cosines.size - k)[-k:].mean())


def abstention_features(signals: QuestionSignals, features: np.ndarray) -> np.ndarray:
    """Per-language best passage cosine and corpus density, Japanese BM25 and known share, unknown names."""
    unknown = min(signals.unknown_names, MAX_UNKNOWN_NAMES)
    share = signals.japanese_share
    density = corpus_density(features[:, _COLUMN["cos"]])
    if len(features):
        maxima = features.max(axis=0)
        cos, bm25 = (maxima[_COLUMN[name]] for name in ("cos", "bm25"))
    else:
        cos = bm25 = 0.0
    values = [
        share * cos,
        (1 - share) * cos,
        share * density,
        (1 - share) * density,
        share,
        share * bm25,
        share * signals.known_share,
        unknown,
    ]
    return np.asarray(values, dtype=np.float32)
