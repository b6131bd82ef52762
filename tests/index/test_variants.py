"""Encoder variants in one index: float32 vectors (torch or ONNX) mix, int8 ones never do."""

from __future__ import annotations

from pathlib import Path

import pytest

from index import store
from index.model import DEFAULT_MODEL, Encoder, load_encoder
from index.version import IndexModelMismatchError, load_latest, verify_version
from ragqa.settings import Settings
from tests.conftest import build_from_settings

pytest.importorskip("onnxruntime")

BODY = """量子アニーリングは物流の配送ルート最適化に使われ始めている。ある運送会社は配送距離を12%短縮したという。

一方で、量子ハードウェアの冷却には極低温が必要であり、運用コストは依然として高い。

Liquid cooling is becoming mandatory for racks above 100 kW.
"""


def _encoder(runtime: str) -> Encoder:
    return load_encoder(DEFAULT_MODEL, Settings().model_cache_dir, runtime=runtime)


@pytest.fixture(scope="module")
def torch_fp32() -> Encoder:
    return _encoder("torch")


@pytest.fixture(scope="module")
def onnx_fp32() -> Encoder:
    return _encoder("onnx")


@pytest.fixture(scope="module")
def onnx_int8() -> Encoder:
    return _encoder("onnx-int8")


@pytest.mark.slow
def test_switching_variants_reuses_fp32_and_re_embeds_int8(
    write_post, tmp_path: Path, torch_fp32: Encoder, onnx_fp32: Encoder, onnx_int8: Encoder
) -> None:
    settings = Settings(corpus_dir=write_post("001_quantum", "量子アニーリングと物流", BODY), index_dir=tmp_path / "i")
    first = build_from_settings(settings, torch_fp32)
    assert first.new == first.passages == 3

    # onnx-fp32 after torch-fp32: the same vectors (parity ≥ 0.9999), so nothing is embedded again...
    same = build_from_settings(settings, onnx_fp32)
    assert not same.changed and same.reused == 3
    loaded, _ = load_latest(settings.index_dir, onnx_fp32.name, onnx_fp32.variant)
    assert loaded.manifest.variant == "torch-fp32"

    # ...but int8 vectors differ: the index refuses the int8 encoder, saying what to run,
    with pytest.raises(IndexModelMismatchError, match=r"torch-fp32 vectors.*onnx-int8.*run `ragqa index`"):
        load_latest(settings.index_dir, onnx_int8.name, onnx_int8.variant)
    # and a build with it re-embeds every passage rather than mixing the two kinds.
    switched = build_from_settings(settings, onnx_int8)
    assert switched.changed and switched.new == 3 and switched.reused == 0
    manifest = verify_version(store.versions_dir(settings.index_dir) / switched.version)
    assert manifest.variant == "onnx-int8"
    loaded, _ = load_latest(settings.index_dir, onnx_int8.name, onnx_int8.variant)
    assert loaded.vectors.shape == (3, 384)
    with pytest.raises(IndexModelMismatchError, match=r"onnx-int8 vectors.*torch-fp32"):
        load_latest(settings.index_dir, torch_fp32.name, torch_fp32.variant)

    # Incremental within a group: a new post under int8 embeds only its passages.
    write_post("002_cooling", "液冷", "液冷は100kWを超えるラックで必須になりつつある。")
    grown = build_from_settings(settings, onnx_int8)
    assert grown.new == 1 and grown.reused == 3
    # Back to float32: the int8 vectors are not reused.
    back = build_from_settings(settings, onnx_fp32)
    assert back.new == 4 and back.reused == 0
    assert verify_version(store.versions_dir(settings.index_dir) / back.version).variant == "onnx-fp32"
