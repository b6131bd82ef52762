"""Deduplicate paragraphs across chunks and posts, then cap passage length at sentence boundaries."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from corpus.clean import Paragraph
from corpus.neardup import ContainmentIndex
from corpus.text import char_ngrams, containment, normalize, split_sentences

NEAR_DUPLICATE = 0.9
MAX_PASSAGE_CHARS = 1000
MIN_PASSAGE_CHARS = 15


@dataclass
class Kept:
    """A surviving paragraph and every raw occurrence folded into it."""

    paragraph: Paragraph
    key: str
    sources: set[tuple[str, int]] = field(default_factory=set)
    grams: set[str] = field(default_factory=set)


@dataclass
class DedupeReport:
    """How many copies were removed, and why, per article (the article of the removed copy)."""

    exact: Counter[str] = field(default_factory=Counter)
    truncated: Counter[str] = field(default_factory=Counter)
    near_duplicate: Counter[str] = field(default_factory=Counter)
    stray: Counter[str] = field(default_factory=Counter)


def _absorb(kept: Kept, copy: Paragraph | Kept) -> None:
    if isinstance(copy, Kept):
        kept.sources |= copy.sources
    else:
        kept.sources |= {(copy.article_id, line) for line in copy.lines}


def _sentences_covered(part: str, whole: Kept) -> bool:
    """Every sentence (≥ 15 chars) of ``part`` is in ``whole`` verbatim or with small edits."""
    whole_text = normalize(whole.paragraph.text)
    for sentence in split_sentences(part):
        norm = normalize(sentence)
        if len(norm) < MIN_PASSAGE_CHARS or norm in whole_text:
            continue
        if containment(char_ngrams(norm), whole.grams) < NEAR_DUPLICATE:
            return False
    return True


def dedupe_paragraphs(paragraphs: list[Paragraph]) -> tuple[list[Kept], DedupeReport]:
    """Drop exact, truncated and near-duplicate copies, keeping the most complete version of each text.

    Paragraphs must come in corpus order (article, then position); the first complete occurrence wins.
    A near-duplicate is only dropped when each of its sentences survives in the kept version: when the
    two rules disagree, losing a sentence is worse than keeping a similar paragraph.
    """
    report = DedupeReport()
    by_key: dict[str, Kept] = {}
    for paragraph in paragraphs:
        key = normalize(paragraph.text)
        if len(key) < MIN_PASSAGE_CHARS:
            report.stray[paragraph.article_id] += 1
            continue
        if key in by_key:
            report.exact[paragraph.article_id] += 1
            _absorb(by_key[key], paragraph)
            continue
        kept = Kept(paragraph, key)
        _absorb(kept, paragraph)
        by_key[key] = kept

    # Longest first, so that every candidate is compared only with texts at least as complete as itself.
    candidates = sorted(by_key.values(), key=lambda k: (-len(k.key), k.paragraph.article_id, k.paragraph.order))
    survivors: list[Kept] = []
    index = ContainmentIndex()  # ids are positions in survivors
    for cand in candidates:
        cand.grams = char_ngrams(cand.key)
        # A prefix of a survivor has all its grams in it, so both rules only need the ≥ 90 % matches.
        similar = [survivors[i] for i in index.containing(cand.grams, NEAR_DUPLICATE)]
        home = next((s for s in similar if s.key.startswith(cand.key)), None)
        if home is not None:
            report.truncated[cand.paragraph.article_id] += 1
            _absorb(home, cand)
            continue
        home = next((s for s in similar if _sentences_covered(cand.key, s)), None)
        if home is not None:
            report.near_duplicate[cand.paragraph.article_id] += 1
            _absorb(home, cand)
            continue
        survivors.append(cand)
        index.add(cand.grams)
    survivors.sort(key=lambda k: (k.paragraph.article_id, k.paragraph.order))
    return survivors, report


def split_long(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[str]:
    """Split a text over ``limit`` characters at sentence boundaries into near-equal pieces."""
    if len(text) <= limit:
        return [text]
    sentences = split_sentences(text)
    pieces_needed = -(-len(text) // limit)
    target = len(text) / pieces_needed
    pieces: list[str] = []
    current = ""
    for sentence in sentences:
        # Sentences of a paragraph are glued without spaces in Japanese, but English ones need one.
        glue = " " if current and current[-1] in "!?." and sentence[:1].isascii() else ""
        if current and (len(current) + len(glue) + len(sentence) > limit or len(current) >= target):
            pieces.append(current)
            current, glue = "", ""
        current += glue + sentence
    if current:
        pieces.append(current)
    # A single sentence longer than the limit: cut it at the limit rather than exceed the cap.
    return [piece[i : i + limit] for piece in pieces for i in range(0, len(piece), limit)]
