"""The invariants of issue 2, asserted over the shipped default corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from corpus.clean import CHUNK_MARKER, _heading
from corpus.loader import Corpus, load_corpus
from corpus.parse import post_paths, read_post
from corpus.text import BROKEN_CHAR, char_ngrams, containment, normalize, split_sentences


@pytest.fixture(scope="module")
def corpus(default_corpus_dir: Path) -> Corpus:
    return load_corpus(default_corpus_dir)


def test_all_five_posts_load(corpus: Corpus) -> None:
    assert len(corpus.articles) == 5
    assert corpus.rejected == []


def test_titles_are_readable(corpus: Corpus) -> None:
    for article in corpus.articles:
        assert BROKEN_CHAR not in article.title
    meta = corpus.article("002_214864c1432d6946")
    assert meta is not None and meta.title.startswith("メタがGoogle TPUを採用？ AIインフラの未来")


def test_no_exact_duplicates(corpus: Corpus) -> None:
    keys = [normalize(p.text) for p in corpus.passages]
    assert len(keys) == len(set(keys))
    ids = [p.id for p in corpus.passages]
    assert len(ids) == len(set(ids))


def test_no_truncated_copies(corpus: Corpus) -> None:
    keys = [normalize(p.text) for p in corpus.passages]
    for i, short in enumerate(keys):
        assert not any(j != i and long.startswith(short) for j, long in enumerate(keys)), short[:40]


def test_no_near_duplicates(corpus: Corpus) -> None:
    grams = [char_ngrams(p.text) for p in corpus.passages]
    for i, part in enumerate(grams):
        for j, whole in enumerate(grams):
            if i != j:
                assert containment(part, whole) < 0.9, (corpus.passages[i].text[:40], corpus.passages[j].text[:40])


def test_size_limits_and_no_markers(corpus: Corpus) -> None:
    for passage in corpus.passages:
        assert 15 <= len(passage.text) <= 1000
        assert "---END---" not in passage.text
        assert "**" not in passage.text and not passage.text.startswith("#")
        assert BROKEN_CHAR not in passage.text
        assert not passage.text.startswith("...")
        assert passage.section is None or (passage.section and "#" not in passage.section)


def test_nothing_lost(corpus: Corpus, default_corpus_dir: Path) -> None:
    keys = [normalize(p.text) for p in corpus.passages]
    grams = [char_ngrams(k) for k in keys]
    titles = {normalize(a.title) for a in corpus.articles}
    lost = []
    for path in post_paths(default_corpus_dir):
        post = read_post(path)
        for lineno, raw in post.body:
            line = raw.strip()
            if not line or CHUNK_MARKER.match(line) or _heading(line) is not None:
                continue
            line = re.sub(r"^(\.\.\.|…)", "", line.replace("**", ""))
            for sentence in split_sentences(line):
                norm = normalize(sentence)
                if len(norm) < 15 or norm in titles:
                    continue
                if any(norm in k for k in keys):
                    continue
                if any(containment(char_ngrams(norm), g) >= 0.9 for g in grams):
                    continue
                lost.append((post.article.id, lineno, norm[:60]))
    assert lost == []


def test_every_passage_cites_its_own_lines(corpus: Corpus) -> None:
    for passage in corpus.passages:
        assert passage.sources
        assert any(s.article_id == passage.article_id for s in passage.sources)


def test_copies_are_kept_as_provenance(corpus: Corpus) -> None:
    assert sum(len(p.sources) > 1 for p in corpus.passages) > 20


def test_ids_are_stable_and_unaffected_by_a_new_post(corpus: Corpus, default_corpus_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "posts"
    folder.mkdir()
    for path in post_paths(default_corpus_dir):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "999_new.txt").write_text(
        '---\ntitle: "新しい記事"\ndate: 2026-01-01\n---\n\nまったく新しい話題についての段落がここにある。\n',
        encoding="utf-8",
    )
    again = load_corpus(folder)
    old_ids = {p.id for p in corpus.passages}
    assert old_ids <= {p.id for p in again.passages}
    assert len(again.passages) == len(corpus.passages) + 1
