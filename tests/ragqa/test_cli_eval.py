"""`ragqa eval` refuses bad options before it loads the model or the index."""

from __future__ import annotations

from typer.testing import CliRunner

from ragqa.cli import app

runner = CliRunner()


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
