"""One bad post never stops the others: each is rejected by file name and the rest load."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.loader import MAX_PARAGRAPHS_PER_POST, PostTooLargeError, build_passages, load_corpus
from corpus.parse import parse_post_text
from tests.conftest import make_post
from tests.corpus.test_frontmatter import BILLION_LAUGHS

GOOD_BODY = "液冷はサーバーの熱を水で運び去る技術であり、空冷より多くの熱を扱える。\n"
BAD_POSTS = {
    "bad_date": "---\ntitle: 液冷\ndate: 2025-02-30\n---\n\n" + GOOD_BODY,
    "bad_nesting": "---\ntitle: " + "[" * 5000 + "]" * 5000 + "\ndate: 2025-01-01\n---\n\n" + GOOD_BODY,
    "bad_bomb": f"---\n{BILLION_LAUGHS}\n---\n\n" + GOOD_BODY,
}


def _many_paragraphs(count: int) -> str:
    return make_post(
        "段落の多い記事",
        "".join(f"第{i}項：液冷について{i * 7919 % 10007}件の事例を確かめた。\n\n" for i in range(count)),
    )


def test_bad_posts_are_rejected_by_name_and_the_rest_load(tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text(make_post("液冷の基礎", GOOD_BODY), encoding="utf-8")
    for name, text in BAD_POSTS.items():
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "bad_size.txt").write_text(_many_paragraphs(MAX_PARAGRAPHS_PER_POST + 1), encoding="utf-8")
    corpus = load_corpus(tmp_path)
    assert [a.id for a in corpus.articles] == ["good"]
    assert {p.article_id for p in corpus.passages} == {"good"}
    assert [r.split(":")[0] for r in corpus.rejected] == ["bad_bomb.txt", "bad_date.txt", "bad_nesting.txt", "bad_size"]
    assert f"over the limit of {MAX_PARAGRAPHS_PER_POST:,} per post" in corpus.rejected[-1]
    assert [s.article_id for s in corpus.stats] == ["good"]


def test_too_many_paragraphs_raise_when_validating_one_post() -> None:
    post = parse_post_text(_many_paragraphs(MAX_PARAGRAPHS_PER_POST + 1), "big")
    with pytest.raises(PostTooLargeError, match=r"big: has 2,001 paragraphs, over the limit of 2,000 per post"):
        build_passages([post])
    passages, _ = build_passages([parse_post_text(_many_paragraphs(MAX_PARAGRAPHS_PER_POST), "ok")])
    assert len(passages) == MAX_PARAGRAPHS_PER_POST
