"""`ragqa eval` and `ragqa ask` say at once that there is no index, without loading the model first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragqa.cli import app
from ragqa.settings import get_settings

runner = CliRunner()


@pytest.mark.parametrize("command", [["eval"], ["ask", "液冷とは？"]])
def test_missing_index_is_reported_before_the_model_loads(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import index.model

    def no_model(*_: object, **__: object) -> None:
        raise AssertionError("the model was loaded before checking for an index")

    monkeypatch.setattr(index.model, "load_encoder", no_model)
    monkeypatch.setenv("RAGQA_INDEX_DIR", str(tmp_path / "index"))
    get_settings.cache_clear()
    try:
        started = time.perf_counter()
        result = runner.invoke(app, command)
        took = time.perf_counter() - started
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "no index in" in result.output and "run `ragqa index`" in result.output
    assert took < 2
