"""The shipped LoRA adapter merged into the default model: the merge, the adapted folder, the setting, errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from index.model import DEFAULT_MODEL, Encoder, ModelError, load_encoder
from index.model import adapter as adapter_module
from index.model.adapter import (
    ADAPTER_CONFIG,
    ADAPTER_DIR,
    ADAPTER_WEIGHTS,
    adapted_name,
    adapter_fingerprint,
    materialise_adapted,
    merged_weights,
    resolve_adapter,
)
from index.model.materialise import MARKER_FILE
from ragqa.settings import Settings

LAYER = "encoder.layer.0.attention.self.query"


def _write_lora(folder: Path, weights: dict[str, np.ndarray], r: int, alpha: int) -> Path:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / ADAPTER_CONFIG).write_text(json.dumps({"peft_type": "LORA", "r": r, "lora_alpha": alpha}))
    save_file(weights, str(folder / ADAPTER_WEIGHTS))
    return folder


def _load(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


@pytest.fixture()
def base_in_tmp_cache(e5_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh cache folder whose base model is the already materialised one (no 5 s rebuild per test)."""
    monkeypatch.setattr(adapter_module, "materialise_e5_small", lambda cache_dir: e5_cache / DEFAULT_MODEL)
    cache = tmp_path / "cache"
    cache.mkdir()
    return cache


def test_merge_adds_scaled_low_rank_product(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    a = rng.normal(size=(2, 4)).astype(np.float32)
    b = rng.normal(size=(6, 2)).astype(np.float32)
    key = f"base_model.model.{LAYER}"
    adapter = _write_lora(tmp_path / "ad", {f"{key}.lora_A.weight": a, f"{key}.lora_B.weight": b}, r=2, alpha=8)
    other = np.ones((3,), np.float32)
    merged = merged_weights({f"{LAYER}.weight": w, "other": other}, adapter)
    np.testing.assert_allclose(merged[f"{LAYER}.weight"], w + 4.0 * b @ a, rtol=1e-6)
    assert merged["other"] is other


def test_merge_refuses_an_adapter_for_another_model(tmp_path: Path) -> None:
    key = "base_model.model.encoder.layer.99.output.dense"
    adapter = _write_lora(
        tmp_path / "ad",
        {f"{key}.lora_A.weight": np.zeros((2, 4), np.float32), f"{key}.lora_B.weight": np.zeros((6, 2), np.float32)},
        r=2,
        alpha=4,
    )
    with pytest.raises(ModelError, match="base model lacks"):
        merged_weights({"encoder.layer.0.output.dense.weight": np.zeros((6, 4), np.float32)}, adapter)


@pytest.mark.slow
def test_the_shipped_adapter_merges_as_computed_by_hand(base_in_tmp_cache: Path, e5_cache: Path) -> None:
    folder = materialise_adapted(base_in_tmp_cache, ADAPTER_DIR)
    base = _load(e5_cache / DEFAULT_MODEL / "model.safetensors")
    adapted = _load(folder / "model.safetensors")
    lora = _load(ADAPTER_DIR / ADAPTER_WEIGHTS)
    config = json.loads((ADAPTER_DIR / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    a = lora[f"base_model.model.{LAYER}.lora_A.weight"].astype(np.float32)
    b = lora[f"base_model.model.{LAYER}.lora_B.weight"].astype(np.float32)
    expected = base[f"{LAYER}.weight"] + (b @ a) * (config["lora_alpha"] / config["r"])
    np.testing.assert_allclose(adapted[f"{LAYER}.weight"], expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(adapted[f"{LAYER}.weight"], base[f"{LAYER}.weight"], atol=1e-4)
    changed = {k for k in base if not np.array_equal(base[k], adapted[k])}
    targets = {k.removeprefix("base_model.model.").replace(".lora_A", "") for k in lora if ".lora_A." in k}
    assert changed == targets and len(targets) == 12 * 6  # every linear map of every layer, nothing else
    assert adapted.keys() == base.keys() and all(adapted[k].dtype == base[k].dtype for k in base)


@pytest.mark.slow
def test_adapted_vectors_are_unit_length_and_differ_from_the_base(e5_encoder: Encoder, served_torch_encoder) -> None:
    assert e5_encoder.name == DEFAULT_MODEL
    assert served_torch_encoder.name == adapted_name(adapter_fingerprint(ADAPTER_DIR))
    questions = ["液冷はなぜ必要？", "Why is liquid cooling needed?"]
    passages = ["液冷はAIチップの発熱を抑える。", "HBMはメモリ帯域を広げる。供給は逼迫している。"]
    for encode in ("encode_queries", "encode_passages"):
        texts = questions if encode == "encode_queries" else passages
        before, after = getattr(e5_encoder, encode)(texts), getattr(served_torch_encoder, encode)(texts)
        np.testing.assert_allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-5)
        assert ((before * after).sum(axis=1) < 0.99).all()
    # Both questions still sit clearly nearer the cooling passage than the memory one.
    similarities = served_torch_encoder.encode_queries(questions) @ served_torch_encoder.encode_passages(passages).T
    assert (similarities[:, 0] - similarities[:, 1] > 0.2).all(), similarities


@pytest.mark.slow
def test_the_adapted_folder_is_rebuilt_when_the_adapter_changes(base_in_tmp_cache: Path, tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    adapter = tmp_path / "adapter"
    shutil.copytree(ADAPTER_DIR, adapter)
    first = materialise_adapted(base_in_tmp_cache, adapter)
    assert first.name == adapted_name(adapter_fingerprint(ADAPTER_DIR))
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert materialise_adapted(base_in_tmp_cache, adapter) == first  # current: not rebuilt
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp

    lora = _load(adapter / ADAPTER_WEIGHTS)
    key = f"base_model.model.{LAYER}.lora_B.weight"
    lora[key] = (lora[key] * 2).astype(lora[key].dtype)
    save_file(lora, str(adapter / ADAPTER_WEIGHTS))
    second = materialise_adapted(base_in_tmp_cache, adapter)
    assert second != first and second.name == adapted_name(adapter_fingerprint(adapter))
    marker = json.loads((second / MARKER_FILE).read_text(encoding="utf-8"))
    assert marker["adapter_sha256"] == adapter_fingerprint(adapter) and marker["model"] == second.name
    assert not np.array_equal(
        _load(first / "model.safetensors")[f"{LAYER}.weight"], _load(second / "model.safetensors")[f"{LAYER}.weight"]
    )

    # A marker that no longer matches (e.g. the base model was rebuilt) rebuilds the folder in place.
    (second / MARKER_FILE).write_text(json.dumps({**marker, "base_marker": {}}), encoding="utf-8")
    assert materialise_adapted(base_in_tmp_cache, adapter) == second
    assert json.loads((second / MARKER_FILE).read_text(encoding="utf-8")) == marker
    assert not (second / "onnx").exists()  # the base folder's export is never copied: each folder exports its own
    assert not list(base_in_tmp_cache.glob(".*tmp-*"))  # no temporary folders left


def test_the_setting_picks_the_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAGQA_ADAPTER", raising=False)
    assert resolve_adapter(DEFAULT_MODEL, Settings().adapter) == ADAPTER_DIR
    monkeypatch.setenv("RAGQA_ADAPTER", "none")
    assert resolve_adapter(DEFAULT_MODEL, Settings().adapter) is None
    assert resolve_adapter("intfloat/multilingual-e5-base", "default") is None  # the adapter is for the default
    with pytest.raises(ModelError, match="applies only to the bundled"):
        resolve_adapter("intfloat/multilingual-e5-base", str(ADAPTER_DIR))
    with pytest.raises(ModelError, match=f"holds no {ADAPTER_WEIGHTS}.*index.model.finetune"):
        resolve_adapter(DEFAULT_MODEL, str(tmp_path))
    assert resolve_adapter(DEFAULT_MODEL, str(ADAPTER_DIR)) == ADAPTER_DIR


@pytest.mark.slow
def test_adapter_none_serves_the_base_model_under_its_own_name(e5_cache: Path) -> None:
    settings = Settings(adapter="none")
    encoder = load_encoder(DEFAULT_MODEL, e5_cache, runtime="torch", adapter=settings.adapter)
    assert encoder.name == DEFAULT_MODEL
    default = load_encoder(DEFAULT_MODEL, e5_cache, runtime="torch")
    assert default.name.startswith(f"{DEFAULT_MODEL}+ragqa-") and default.name != encoder.name


def test_a_corrupt_adapter_names_the_file_and_what_to_do(base_in_tmp_cache: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    shutil.copytree(ADAPTER_DIR, adapter)
    weights = adapter / ADAPTER_WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])  # a truncated download or copy
    what_to_do = r"python -m index\.model\.finetune.*RAGQA_ADAPTER=none"
    with pytest.raises(ModelError, match=rf"{re.escape(str(weights))}.*unreadable.*{what_to_do}"):
        materialise_adapted(base_in_tmp_cache, adapter)
    (adapter / ADAPTER_CONFIG).write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=rf"{re.escape(str(adapter / ADAPTER_CONFIG))}.*unreadable.*{what_to_do}"):
        materialise_adapted(base_in_tmp_cache, adapter)
    weights.unlink()
    with pytest.raises(ModelError, match=rf"cannot read the adapter file {re.escape(str(weights))}.*{what_to_do}"):
        materialise_adapted(base_in_tmp_cache, adapter)
    assert not [p for p in base_in_tmp_cache.iterdir() if p.name != ".build.lock"]  # nothing half-built


@pytest.mark.slow
def test_the_onnx_export_is_the_adapted_folders_own() -> None:
    from index.model.onnx_export import ensure_onnx_export, is_export_current, read_onnx_marker

    folder = ensure_onnx_export(Settings().model_cache_dir)
    assert folder.name == adapted_name(adapter_fingerprint(ADAPTER_DIR)) and is_export_current(folder)
    assert read_onnx_marker(folder)["model_marker"]["adapter_sha256"] == adapter_fingerprint(ADAPTER_DIR)
