"""The corpus adapter: training pairs from question files, LoRA merging, and the shipped adapter's effect."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.model import finetune
from index.model.finetune import (
    ADAPTER_CONFIG,
    ADAPTER_DIR,
    ADAPTER_WEIGHTS,
    AdapterError,
    TrainConfig,
    apply_adapter,
    materialise_adapted,
    merged_weights,
    training_examples,
    training_files,
)

BODY = "液冷はAIチップの発熱を抑える。空冷では足りない。\n\nHBMはメモリ帯域を広げる。供給は逼迫している。\n"


def _write_lora(folder: Path, weights: dict[str, np.ndarray], r: int, alpha: int) -> Path:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / ADAPTER_CONFIG).write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": alpha}))
    save_file(weights, str(folder / ADAPTER_WEIGHTS))
    return folder


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


def test_merge_adds_scaled_low_rank_product(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    a = rng.normal(size=(2, 4)).astype(np.float32)
    b = rng.normal(size=(6, 2)).astype(np.float32)
    key = "base_model.model.encoder.layer.0.attention.self.query"
    adapter = _write_lora(tmp_path / "ad", {f"{key}.lora_A.weight": a, f"{key}.lora_B.weight": b}, r=2, alpha=8)
    other = np.ones((3,), np.float32)
    merged = merged_weights({"encoder.layer.0.attention.self.query.weight": w, "other": other}, adapter)
    np.testing.assert_allclose(merged["encoder.layer.0.attention.self.query.weight"], w + 4.0 * b @ a, rtol=1e-6)
    assert merged["other"] is other


def test_merge_refuses_an_adapter_for_another_model(tmp_path: Path) -> None:
    key = "base_model.model.encoder.layer.99.output.dense"
    adapter = _write_lora(
        tmp_path / "ad",
        {f"{key}.lora_A.weight": np.zeros((2, 4), np.float32), f"{key}.lora_B.weight": np.zeros((6, 2), np.float32)},
        r=2,
        alpha=4,
    )
    with pytest.raises(AdapterError, match="base model lacks"):
        merged_weights({"encoder.layer.0.output.dense.weight": np.zeros((6, 4), np.float32)}, adapter)


def test_missing_adapter_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="index.model.finetune"):
        materialise_adapted(tmp_path / "base", tmp_path / "cache", tmp_path / "nothing")


def test_training_examples_find_the_answering_paragraph_and_sentence(write_post, tmp_path: Path) -> None:
    corpus = write_post("a", "冷却の話", BODY)
    examples = training_examples([_question_file(tmp_path / "q.jsonl", "空冷では足りない")], corpus)
    [example] = examples
    assert example.positive.endswith("液冷はAIチップの発熱を抑える。空冷では足りない。")
    assert example.sentence == "冷却の話\n空冷では足りない。"
    assert all("空冷" not in n for n in example.negatives) and len(example.negatives) == 1


def test_a_gold_substring_in_no_passage_is_an_error(write_post, tmp_path: Path) -> None:
    corpus = write_post("a", "冷却の話", BODY)
    with pytest.raises(ValueError, match="in no passage of article 'a'"):
        training_examples([_question_file(tmp_path / "q.jsonl", "浸漬冷却")], corpus)


def test_the_repository_training_questions_all_resolve(default_corpus_dir: Path) -> None:
    files = training_files()
    examples = training_examples(files, default_corpus_dir)
    assert len(examples) == sum(len(p.read_text("utf-8").splitlines()) for p in files)
    assert {e.lang for e in examples} == {"ja", "en"}


@pytest.fixture(scope="module")
def base_folder(encoder) -> Path:
    """The materialised multilingual-e5-small folder (the session's real encoder built it)."""
    from index.embedder import materialise_e5_small
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


@pytest.mark.slow
def test_shipped_adapter_changes_vectors_and_keeps_them_unit(base_folder: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    record = json.loads((ADAPTER_DIR / finetune.ADAPTER_RECORD).read_text("utf-8"))
    assert record["data_sha256"] == finetune.data_hash(training_files()), "retrain: the training questions changed"
    adapted = apply_adapter(base_folder, ADAPTER_DIR, tmp_path / "adapted")
    texts = [
        "query: 液冷はなぜ必要？",
        "query: Why is liquid cooling needed?",
        "passage: 液冷はAIチップの発熱を抑える。",
        "passage: HBMはメモリ帯域を広げる。供給は逼迫している。",
    ]
    before = SentenceTransformer(str(base_folder), device="cpu", local_files_only=True).encode(texts)
    after = SentenceTransformer(str(adapted), device="cpu", local_files_only=True).encode(texts)
    np.testing.assert_allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-5)
    # The contrastive training spreads e5's crowded cosines apart, so the vectors move a lot...
    assert ((before * after).sum(axis=1) < 0.99).all()
    # ...while both questions still sit clearly nearer the cooling passage than the memory one.
    similarities = after[:2] @ after[2:].T
    assert (similarities[:, 0] - similarities[:, 1] > 0.2).all(), similarities


@pytest.mark.slow
def test_adapted_folder_is_built_once(base_folder: Path, tmp_path: Path) -> None:
    first = materialise_adapted(base_folder, tmp_path, ADAPTER_DIR)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert materialise_adapted(base_folder, tmp_path, ADAPTER_DIR) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".*tmp-*"))
