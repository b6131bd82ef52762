"""Retrieval over the real index: the right Japanese paragraphs on top, for Japanese and English questions."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.text import char_ngrams, containment
from index.answer import cite, compose_answer
from index.ranker import open_ranker
from index.retriever import MODES, HybridRetriever, set_query_threads
from index.version import load_latest
from tests.conftest import PASSAGE_FIELDS

META = "002_214864c1432d6946"


@pytest.fixture(scope="module")
def retriever(built_index, encoder) -> HybridRetriever:
    settings, _, index_dir, _ = built_index
    loaded, problems = load_latest(index_dir, encoder.name)
    assert problems == []
    ranker = open_ranker(loaded)
    assert ranker is not None, "index/ranker.json did not load"
    return HybridRetriever(loaded, encoder, ranker=ranker)


@pytest.mark.parametrize("question", ["Why would Meta adopt Google's TPUs?", "メタがTPUを導入する理由は？"])
def test_meta_tpu_question_is_answered_from_the_meta_post(retriever: HybridRetriever, question: str) -> None:
    hits = retriever.search(question, 5)
    assert hits[0].passage.article_id == META
    assert sum(h.passage.article_id == META for h in hits) >= 3


@pytest.mark.parametrize(
    ("question", "article"),
    [
        ("How many GPUs are in a Helios rack?", "004_8914f1a2936a845c"),
        ("FoxconnはOpenAIとの提携で何を作るのか？", "001_ef0b94e0c9148836"),
        ("What share of data centres will use liquid cooling?", "000_e37759bbadf7d6dc"),
        ("OpenAIがAMDを選んだのはなぜ？", "003_25f974e797425909"),
    ],
)
def test_each_post_answers_its_own_questions(retriever: HybridRetriever, question: str, article: str) -> None:
    assert retriever.search(question, 3)[0].passage.article_id == article


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_returns_k_ranked_hits(retriever: HybridRetriever, mode) -> None:
    hits = retriever.search("液冷の普及率はどのくらい？", 7, mode)
    assert [h.rank for h in hits] == list(range(1, 8))
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_no_two_near_copies_in_one_top_k(retriever: HybridRetriever) -> None:
    for question in ["AIインフラの未来", "Why does OpenAI partner with AMD?", "投資家への示唆"]:
        hits = retriever.search(question, 20)
        grams = [char_ngrams(h.passage.text) for h in hits]
        for i in range(len(hits)):
            for j in range(len(hits)):
                if i != j:
                    assert containment(grams[i], grams[j]) < retriever.params.near_copy


def test_highlight_is_a_sentence_of_the_passage(retriever: HybridRetriever) -> None:
    for hit in retriever.search("Why would Meta adopt Google's TPUs?", 5):
        assert hit.highlight and hit.highlight in hit.passage.text


def test_batch_search_equals_single_search(retriever: HybridRetriever) -> None:
    questions = ["メタがTPUを導入する理由は？", "How many GPUs in a Helios rack?"]
    batch = retriever.search_many(questions, 5)
    for question, hits in zip(questions, batch):
        assert [h.passage.id for h in hits] == [h.passage.id for h in retriever.search(question, 5)]


def test_ranked_search_with_precomputed_vectors_and_tokens_equals_encoding_itself(retriever: HybridRetriever) -> None:
    questions = ["メタがTPUを導入する理由は？", "How many GPUs in a Helios rack?"]
    vectors, tokens = retriever.encode_with_tokens(questions)
    np.testing.assert_allclose(vectors, retriever.encode(questions), atol=1e-6)
    assert all(t.ndim == 2 and t.shape[1] == vectors.shape[1] and len(t) > 0 for t in tokens)
    itself = retriever.ask_many(questions, 5, "ranked")
    given = retriever.ask_many(questions, 5, "ranked", vectors=vectors, tokens=tokens)
    vectors_only = retriever.ask_many(questions, 5, "ranked", vectors=vectors)  # tokens encoded again
    for a, b, c in zip(itself, given, vectors_only):
        assert [h.passage.id for h in a.hits] == [h.passage.id for h in b.hits] == [h.passage.id for h in c.hits]
        assert a.confidence == pytest.approx(b.confidence) and a.answerable == b.answerable == c.answerable
    with pytest.raises(ValueError, match="one per question"):
        retriever.ask_many(questions, 5, "ranked", vectors=vectors, tokens=tokens[:1])


def test_cited_passage_schema_and_answer_markers(retriever: HybridRetriever) -> None:
    hits = retriever.search("Why would Meta adopt Google's TPUs?", 5)
    cited = cite(hits[0]).model_dump()
    assert list(cited) == PASSAGE_FIELDS
    answer = compose_answer(hits)
    assert answer.startswith(hits[0].highlight) and "[1]" in answer
    assert answer.count("[") <= 3


def test_per_question_top_k_equals_separate_searches(retriever: HybridRetriever) -> None:
    questions = ["メタがTPUを導入する理由は？", "How many GPUs in a Helios rack?", "液冷の普及率はどのくらい？"]
    top_ks = [3, 20, 5]  # 20 asks for a larger candidate pool than the other two
    batch = retriever.search_many(questions, top_ks)
    assert [len(hits) for hits in batch] == top_ks
    for question, k, hits in zip(questions, top_ks, batch):
        alone = retriever.search(question, k)
        assert [(h.passage.id, h.highlight) for h in hits] == [(h.passage.id, h.highlight) for h in alone]
    with pytest.raises(ValueError, match="one per question"):
        retriever.search_many(questions, [5])


def test_highlight_score_is_the_best_sentence_cosine(retriever: HybridRetriever) -> None:
    question = "Why would Meta adopt Google's TPUs?"
    vector = retriever.encode([question])[0]
    table = retriever.index.sentences
    for hit in retriever.search(question, 5):
        cosines = table.vectors[table.rows(hit.row)] @ vector
        assert hit.highlight_score == pytest.approx(float(cosines.max()), abs=1e-6)


def _mask(retriever: HybridRetriever, article_ids: set[str]):
    import numpy as np

    return np.array([p.article_id in article_ids for p in retriever.index.passages])


@pytest.mark.parametrize("mode", MODES)
def test_a_filter_fills_top_k_from_the_allowed_article(retriever: HybridRetriever, mode) -> None:
    # The Helios post does not answer this question, so a post-filter would keep few or none of the top k.
    helios = "004_8914f1a2936a845c"
    mask = _mask(retriever, {helios})
    k = 8
    assert mask.sum() >= k
    hits = retriever.search("メタがTPUを導入する理由は？", k, mode, allowed_rows=mask)
    assert len(hits) == k
    assert {h.passage.article_id for h in hits} == {helios}


def test_a_batch_with_different_filters_answers_each_within_its_own(retriever: HybridRetriever) -> None:
    meta, helios = META, "004_8914f1a2936a845c"
    question = "メタがTPUを導入する理由は？"
    timings: dict[str, float] = {}
    unfiltered, only_helios, only_meta, nothing = retriever.search_many(
        [question] * 4,
        5,
        allowed_rows=[None, _mask(retriever, {helios}), _mask(retriever, {meta}), _mask(retriever, set())],
        timings=timings,
    )
    assert [h.passage.id for h in unfiltered] == [h.passage.id for h in retriever.search(question, 5)]
    assert {h.passage.article_id for h in only_helios} == {helios} and len(only_helios) == 5
    assert {h.passage.article_id for h in only_meta} == {meta}
    assert nothing == []
    assert set(timings) == {"encode", "dense", "lexical", "rank"} and all(t > 0 for t in timings.values())


def test_query_threads_cap_faiss_and_blas_together() -> None:
    import faiss

    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = faiss.omp_get_max_threads()
    try:
        with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # a known state, restored on exit
            faiss.omp_set_num_threads(2)
            set_query_threads(0)  # 0 leaves both as they are
            assert faiss.omp_get_max_threads() == 2
            assert {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"} == {2}
            set_query_threads(1)
            assert faiss.omp_get_max_threads() == 1
            assert {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"} == {1}
    finally:
        faiss.omp_set_num_threads(before)
