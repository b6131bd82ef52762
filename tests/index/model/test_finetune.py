"""Training the corpus adapter: training pairs from question files, a tiny run against peft's merge, the record.

Applying the adapter (merging, the adapted folder, its vectors) is tested in ``test_adapter.py``.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from index.model import finetune
from index.model.adapter import ADAPTER_DIR, ADAPTER_RECORD, merged_weights
from index.model.finetune import TrainConfig
from index.model.training_data import TRAINING_DIR, data_hash, training_examples, training_files

BODY = "液冷はAIチップの発熱を抑える。空冷では足りない。\n\nHBMはメモリ帯域を広げる。供給は逼迫している。\n"


def _question_file(path: Path, substring: str, article_id: str = "a") -> Path:
    row = {
        "id": "x1",
        "lang": "ja",
        "type": "fact",
        "question": "なぜ液冷？",
        "gold": [{"article_id": article_id, "substring": substring}],
    }
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_training_examples_find_the_answering_paragraph_and_sentence(write_post, tmp_path: Path) -> None:
    corpus = write_post("a", "冷却の話", BODY)
    examples = training_examples([_question_file(tmp_path / "q.jsonl", "空冷では足りない")], corpus)
    [example] = examples
    assert example.positive.endswith("液冷はAIチップの発熱を抑える。空冷では足りない。")
    assert example.sentence == "冷却の話\n空冷では足りない。"
    assert all("空冷" not in n for n in example.negatives) and len(example.negatives) == 1


def test_the_answer_sentence_is_found_when_nfkc_changes_lengths_before_it(write_post, tmp_path: Path) -> None:
    # Half-width "ﾃﾞ", "ﾊﾞ", "ｸﾞ" shrink under NFKC (2 → 1 character): the answer's offset in the NFKC
    # text would point into the first sentence of the raw text.
    body = "ﾃﾞﾊﾞｲｽﾃﾞﾊﾞｯｸﾞは大変だった。ﾃﾞｰﾀ量が増えた。液冷に変わった。\n"
    corpus = write_post("a", "冷却の話", body)
    [example] = training_examples([_question_file(tmp_path / "q.jsonl", "データ量が増えた")], corpus)
    assert example.sentence == "冷却の話\nﾃﾞｰﾀ量が増えた。"


def test_a_gold_substring_in_no_passage_is_an_error(write_post, tmp_path: Path) -> None:
    corpus = write_post("a", "冷却の話", BODY)
    with pytest.raises(ValueError, match="in no passage of article 'a'"):
        training_examples([_question_file(tmp_path / "q.jsonl", "浸漬冷却")], corpus)


@pytest.mark.parametrize("folder", [TRAINING_DIR, TRAINING_DIR / "candidates"], ids=["adapter", "candidates"])
def test_the_repository_training_questions_all_resolve(folder: Path, default_corpus_dir: Path) -> None:
    files = training_files(folder)
    examples = training_examples(files, default_corpus_dir)
    assert len(examples) == sum(len(p.read_text("utf-8").splitlines()) for p in files)
    assert {e.lang for e in examples} == {"ja", "en"}


def test_candidate_questions_are_not_in_the_adapter_data() -> None:
    # A candidate question already in the shipped adapter's data would be trained on twice if both were used.
    def questions(folder: Path) -> set[str]:
        lines = [line for path in training_files(folder) for line in path.read_text("utf-8").splitlines()]
        return {unicodedata.normalize("NFKC", json.loads(line)["question"]).casefold().strip() for line in lines}

    assert not questions(TRAINING_DIR) & questions(TRAINING_DIR / "candidates")


@pytest.fixture(scope="module")
def base_folder(encoder) -> Path:
    """The materialised multilingual-e5-small folder (the session's real encoder built it)."""
    from index.model.materialise import materialise_e5_small
    from ragqa.settings import Settings

    return materialise_e5_small(Settings().model_cache_dir)


@pytest.mark.slow
def test_tiny_training_run_matches_peft_merge(base_folder: Path, default_corpus_dir: Path, tmp_path: Path) -> None:
    import torch

    examples = training_examples(training_files(), default_corpus_dir)[:8]
    config = TrainConfig(batch_size=8, epochs=1, max_steps=1, max_seq_length=64, learning_rate=5e-3)
    model, peft_model = finetune.train(base_folder, examples, config)
    finetune.save_adapter(peft_model, tmp_path / "adapter", {"test": True}, half=False)
    base = {
        k.replace(".base_layer", ""): v.detach().numpy().copy()
        for k, v in peft_model.get_base_model().state_dict().items()
        if "lora_" not in k
    }
    ours = merged_weights(base, tmp_path / "adapter")
    key = "encoder.layer.11.output.dense.weight"
    assert not np.allclose(ours[key], base[key])
    # peft's own merge is the reference for our numpy one (which the materialiser uses without peft).
    reference = {k: v.detach().numpy() for k, v in peft_model.merge_and_unload().state_dict().items()}
    assert reference.keys() == ours.keys()
    for name, value in reference.items():
        np.testing.assert_allclose(ours[name], value, atol=1e-6, err_msg=name)
    assert torch.isfinite(torch.tensor(ours[key])).all()


def test_the_shipped_adapter_records_how_it_was_made() -> None:
    record = json.loads((ADAPTER_DIR / ADAPTER_RECORD).read_text("utf-8"))
    assert record["data_sha256"] == data_hash(training_files()), "retrain: the training questions changed"
    assert record["command"].startswith("python -m index.model.finetune")
