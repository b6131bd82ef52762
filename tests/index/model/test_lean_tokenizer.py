"""The ONNX encoder's lean tokenizer gives tokenizer.json's ids (corpus, questions, edge cases, truncation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.loader import load_corpus
from eval.questions import load_questions
from index.model import ModelError
from index.model.lean_tokenizer import MODEL_FILE, PIPELINE_FILE, LeanTokenizer, write_lean_tokenizer
from index.model.materialise import MAX_SEQ_LENGTH, PASSAGE_PROMPT, QUERY_PROMPT
from ragqa.settings import DEFAULT_CORPUS_DIR
from tests.index.model.texts import PARAGRAPHS, QUESTIONS

pytest.importorskip("sentencepiece")

EDGE_CASES = [
    "",
    " leading space",
    "trailing space ",
    "  two  spaces  and\ttabs\nand lines ",
    "\u3000全角\u3000\u3000スペース\u3000",
    "①②ｱｲｳ ﾃｽﾄ Ａｂｃ１２３ ㈱ ㍻",
    "emoji 😀🦀 and 𠮷野家",
    "<s> written specials </s> <mask><pad> <unk>",
    "\u200b zero width, é vs e\u0301, ﬁ ligature",
    "a" * 3000,  # one word far past 512 tokens
    "液冷" * 700,  # a long Japanese run
]


@pytest.fixture(scope="module")
def pair(e5_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[object, LeanTokenizer]:
    """tokenizer.json as sentence-transformers loads it, and the lean tokenizer written from it."""
    from tokenizers import Tokenizer

    source = e5_cache / "multilingual-e5-small" / "tokenizer.json"
    folder = tmp_path_factory.mktemp("lean")
    write_lean_tokenizer(source, folder)
    reference = Tokenizer.from_file(str(source))
    reference.no_padding()
    reference.enable_truncation(max_length=MAX_SEQ_LENGTH)
    return reference, LeanTokenizer(folder, max_length=MAX_SEQ_LENGTH)


def _texts() -> list[str]:
    corpus = load_corpus(DEFAULT_CORPUS_DIR)
    questions = [q.question for q in load_questions()]
    return (
        [PASSAGE_PROMPT + p.text for p in corpus.passages]
        + [QUERY_PROMPT + q for q in questions + QUESTIONS]
        + PARAGRAPHS
        + EDGE_CASES
    )


def test_ids_equal_tokenizer_json_on_the_corpus_the_questions_and_edge_cases(pair) -> None:
    reference, lean = pair
    texts = _texts()
    assert len(texts) > 500
    got = lean.encode(texts)
    want = [encoding.ids for encoding in reference.encode_batch(texts)]
    mismatches = [(t[:40], g[:8], w[:8]) for t, g, w in zip(texts, got, want, strict=True) if g != w]
    assert not mismatches, mismatches[:5]
    assert max(len(ids) for ids in got) == MAX_SEQ_LENGTH  # the long texts were truncated, </s> kept
    assert all(ids[0] == lean.bos_id and ids[-1] == lean.eos_id for ids in got)
    for text in texts[:50] + EDGE_CASES:  # without the specials and without truncation
        assert lean.piece_count(text) == len(reference.encode(text, add_special_tokens=False).ids) or len(text) > 500


def test_a_pipeline_of_another_format_or_a_missing_file_is_refused(e5_cache: Path, tmp_path: Path) -> None:
    write_lean_tokenizer(e5_cache / "multilingual-e5-small" / "tokenizer.json", tmp_path)
    pipeline = json.loads((tmp_path / PIPELINE_FILE).read_text(encoding="utf-8"))
    (tmp_path / PIPELINE_FILE).write_text(json.dumps({**pipeline, "format": 0}), encoding="utf-8")
    with pytest.raises(ModelError, match="cannot read the serving tokenizer.*format 0"):
        LeanTokenizer(tmp_path, max_length=MAX_SEQ_LENGTH)
    (tmp_path / PIPELINE_FILE).write_text(json.dumps(pipeline), encoding="utf-8")
    (tmp_path / MODEL_FILE).unlink()
    with pytest.raises(ModelError, match="cannot read the serving tokenizer"):
        LeanTokenizer(tmp_path, max_length=MAX_SEQ_LENGTH)
