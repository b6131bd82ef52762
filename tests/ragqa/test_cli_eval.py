"""`ragqa eval` refuses bad options, and `ragqa eval`/`ragqa ask` report a missing index, before loading the model."""

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


def test_unknown_split_is_refused() -> None:
    result = runner.invoke(app, ["eval", "--split", "train"])
    assert result.exit_code == 2
    assert "--split must be dev, test or all" in result.output


def test_save_expected_needs_the_test_split() -> None:
    result = runner.invoke(app, ["eval", "--split", "dev", "--save-expected"])
    assert result.exit_code == 2
    assert "add --split test" in result.output


def test_unknown_configuration_is_refused() -> None:
    result = runner.invoke(app, ["eval", "--compare", "bm25,colbert"])
    assert result.exit_code == 2
    assert "colbert" in result.output and "hybrid" in result.output
