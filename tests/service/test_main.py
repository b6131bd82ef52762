"""The app factories: create_app takes the settings it is given; app_from_env reads them from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragqa.settings import Settings, get_settings
from service.main import app_from_env, create_app


def test_create_app_uses_the_given_settings(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path / "posts", index_dir=tmp_path / "index", index_poll_seconds=0)
    app = create_app(settings, start=False)
    assert app.state.settings is settings
    assert app.state.engine.index_dir == tmp_path / "index" and app.state.engine.poll_seconds == 0


def test_app_from_env_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGQA_INDEX_DIR", str(tmp_path / "elsewhere"))
    get_settings.cache_clear()
    try:
        app = app_from_env()
    finally:
        get_settings.cache_clear()
    assert app.state.engine.index_dir == tmp_path / "elsewhere"
