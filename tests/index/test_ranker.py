"""The ranker file: it loads, it scores, a broken one is refused clearly, and the real index abstains off-topic."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from index.answer import compose_answer
from index.features import ABSTENTION_FEATURES, FEATURES
from index.ranker import (
    RANKER_PATH,
    LinearModel,
    RankerFileError,
    load_ranker,
    open_ranker,
    set_ranking_threads,
    whole_words,
)
from index.retriever import HybridRetriever
from index.version import load_latest

META = "002_214864c1432d6946"


def test_linear_model_by_hand() -> None:
    model = LinearModel(("a", "b"), np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]), 0.5)
    x = np.array([[3.0, 1.0], [1.0, 0.0]])
    # ((3-1)/2)*1 + (1/1)*-1 + .5 = .5 ; 0 + 0 + .5 = .5
    assert model.logit(x).tolist() == pytest.approx([0.5, 0.5])
    assert model.probability(x).tolist() == pytest.approx([1 / (1 + np.exp(-0.5))] * 2)


def test_the_checked_in_ranker_file_loads_and_scores() -> None:
    models = load_ranker()
    assert models.ranker.features == FEATURES
    assert models.answerable.features == ABSTENTION_FEATURES
    assert 0.0 < models.answer_threshold < 1.0
    assert models.info["command"] == "ragqa train-ranker" and models.encoder
    x = np.random.default_rng(0).normal(size=(7, len(FEATURES))).astype(np.float32)
    assert models.ranker.logit(x).shape == (7,)
    p = models.answerable.probability(np.zeros((1, len(ABSTENTION_FEATURES)), dtype=np.float32))
    assert 0.0 <= float(p[0]) <= 1.0
    assert 0.0 < models.confidence_when_abstaining < 0.5  # dev: rank 1 is rarely right where the service abstains


def test_missing_ranker_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(RankerFileError, match="train-ranker|eval.train_ranker"):
        load_ranker(tmp_path / "ranker.json")


def test_corrupt_ranker_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ranker.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RankerFileError, match="corrupt"):
        load_ranker(path)
    data = json.loads(RANKER_PATH.read_text(encoding="utf-8"))
    data["ranker"]["coef"] = data["ranker"]["coef"][:-1]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RankerFileError, match="wrong length"):
        load_ranker(path)
    data = json.loads(RANKER_PATH.read_text(encoding="utf-8"))
    data["ranker"]["features"] = ["cos"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RankerFileError, match="retrain"):
        load_ranker(path)


def test_an_unusable_ranker_file_falls_back_to_hybrid_with_an_error_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="index.ranker"):
        assert open_ranker(None, tmp_path / "missing.json") is None  # type: ignore[arg-type]
    assert "ranking stage off" in caplog.text


class _Pieces:
    """A stand-in tokenizer that splits words into pieces of three letters (as either encoder's tokenizer)."""

    def tokenize(self, word: str) -> list[str]:  # transformers' tokenizer (sentence-transformers)
        return [word[i : i + 3] for i in range(0, len(word), 3)]

    def piece_count(self, word: str) -> int:  # the ONNX encoder's LeanTokenizer
        return len(self.tokenize(word))


def test_whole_words_read_the_tokenizer_of_either_encoder(caplog: pytest.LogCaptureFixture) -> None:
    onnx_like = SimpleNamespace(tokenizer=_Pieces())
    sentence_transformers_like = SimpleNamespace(model=SimpleNamespace(tokenizer=_Pieces()))
    for encoder in (onnx_like, sentence_transformers_like):
        common = whole_words(encoder)
        assert common is not None and common("AMD") and not common("Groq")
    with caplog.at_level(logging.WARNING, logger="index.ranker"):
        assert whole_words(SimpleNamespace()) is None
    assert "no tokenizer" in caplog.text


@pytest.mark.slow
def test_the_real_vocabulary_keeps_common_words_whole_and_splits_rare_names(encoder) -> None:
    common = whole_words(encoder)
    assert common is not None
    assert common("British") and common("States")  # the posts write 英国, 米国
    assert not common("Cerebras") and not common("CoreWeave")


@pytest.fixture(scope="module")
def retriever(built_index, encoder) -> HybridRetriever:
    _, _, index_dir, _ = built_index
    loaded, _ = load_latest(index_dir, encoder.name)
    ranker = open_ranker(loaded)
    assert ranker is not None
    return HybridRetriever(loaded, encoder, ranker=ranker)


OFF_TOPIC = [
    "What is the best way to grow tomatoes on a balcony?",  # English, no names: similarity alone decides
    "How do I bake sourdough bread at home?",
    "美味しいカレーの作り方を教えて",
]


@pytest.mark.slow
@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_question_gets_no_answer_but_still_passages(retriever: HybridRetriever, question: str) -> None:
    answered = retriever.ask_many([question], 5)[0]
    assert not answered.answerable
    assert len(answered.hits) == 5


@pytest.mark.slow
@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_question_gets_a_low_confidence(retriever: HybridRetriever, question: str) -> None:
    answered = retriever.ask_many([question], 5)[0]
    assert answered.confidence is not None and answered.confidence < 0.5
    # "No answer" comes with the dev rate of right first passages among abstentions, not the answer model's guess.
    assert retriever.ranker is not None and retriever.ranker.models is not None
    assert answered.confidence == pytest.approx(retriever.ranker.models.confidence_when_abstaining)


@pytest.mark.slow
def test_meta_tpu_question_is_answered_with_metas_reasons(retriever: HybridRetriever) -> None:
    answered = retriever.ask_many(["Why would Meta adopt Google's TPUs?"], 5)[0]
    assert retriever.default_mode == "ranked"
    assert answered.answerable and answered.confidence is not None
    first = answered.hits[0]
    assert first.passage.article_id == META
    answer = compose_answer(answered.hits)
    assert first.highlight in answer and first.highlight in first.passage.text  # quoted, never invented
    assert "メタ" in first.passage.text or "Meta" in first.passage.text


def test_ranking_threads_cap_numpys_blas_for_the_process() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # a known state, restored on exit
        set_ranking_threads(0)  # 0: left as it is
        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        assert blas and {i["num_threads"] for i in blas} == {2}
        set_ranking_threads(1)
        assert {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"} == {1}
