"""Parity: the shipped corpus served from Milvus Lite ranks the dev questions as the default backends do.

Both versions come from one real build (the Milvus one reuses its vectors), sit behind the same retriever
and ranking, and are scored by `ragqa eval`'s own evaluation on the dev split (the test split is the lead's).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest

from eval.questions import load_questions
from eval.retrieval import CONFIGURATIONS, DEFAULT_CONFIGURATION
from eval.run import evaluate
from index import store
from index.backends.milvus import MilvusConnection, load_options
from index.backends.milvus_connect import close
from index.build import build_index
from index.params import load_rank_params
from index.ranker import open_ranker
from index.retriever import HybridRetriever
from index.version import load_latest

pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install 'ragqa[milvus]' to test Milvus")
pytest.importorskip("ranx", reason="ranx is not installed: pip install 'ragqa[eval]'")

logger = logging.getLogger(__name__)
TOLERANCE = 0.02  # issue 13: R@5 and MRR@10 within 0.02 of the default backend, per language


@pytest.mark.slow
def test_milvus_lite_scores_the_dev_split_like_the_default_backend(built_index, encoder, tmp_path: Path) -> None:
    settings, corpus_dir, index_dir, _ = built_index
    milvus_dir = tmp_path / "index"
    shutil.copytree(index_dir, milvus_dir)  # the Milvus build then reuses every vector instead of embedding
    connection = MilvusConnection(str(tmp_path / "parity.db"))
    options = dataclasses.replace(settings.build_options(), backend="milvus", milvus=connection)
    summary = build_index(corpus_dir, milvus_dir, encoder, options)
    try:
        assert summary.changed and summary.new == 0 and summary.reused == summary.passages
        default, _ = load_latest(index_dir, encoder.name)
        milvus, _ = load_latest(milvus_dir, encoder.name, load_options=load_options(connection))
        assert milvus.manifest.backends == {"bm25": "milvus_bm25", "dense": "milvus_dense"}
        assert store.current_version(milvus_dir) == summary.version
        questions = load_questions()
        configurations = list(CONFIGURATIONS)
        params = load_rank_params()
        base = evaluate(
            HybridRetriever(default, encoder, params, open_ranker(default)), questions, configurations, "dev"
        )
        other = evaluate(
            HybridRetriever(milvus, encoder, params, open_ranker(milvus)), questions, configurations, "dev"
        )
    finally:
        close(connection.uri)

    assert base.questions == other.questions > 0
    for configuration in configurations:
        for lang in ("all", "ja", "en"):
            want, got = base.row(configuration, "lang", lang), other.row(configuration, "lang", lang)
            assert want is not None and got is not None
            logger.info(
                "%s %s: R@5 %.3f vs %.3f, MRR@10 %.3f vs %.3f (default vs Milvus, %d questions)",
                configuration,
                lang,
                want.scores["R@5"].mean,
                got.scores["R@5"].mean,
                want.scores["MRR@10"].mean,
                got.scores["MRR@10"].mean,
                want.n,
            )
    same = [
        b.first_relevant[DEFAULT_CONFIGURATION] == o.first_relevant[DEFAULT_CONFIGURATION]
        for b, o in zip(base.per_question, other.per_question)
    ]
    logger.info("first relevant rank identical for %d of %d dev questions", sum(same), len(same))
    for configuration in configurations:  # the default is what the issue asks for; the others show why
        for lang in ("ja", "en"):
            want, got = base.row(configuration, "lang", lang), other.row(configuration, "lang", lang)
            for metric in ("R@5", "MRR@10"):
                assert abs(want.scores[metric].mean - got.scores[metric].mean) <= TOLERANCE, (configuration, lang)
    assert [q.id for q in base.per_question] == [q.id for q in other.per_question]
