"""Ranking parameters: one frozen object, defaults equal to the checked-in file, bad files refused clearly."""

import dataclasses
import json
from pathlib import Path

import pytest

from index.params import RANK_PARAMS_PATH, RankParams, load_rank_params


def test_checked_in_file_holds_the_defaults() -> None:
    assert json.loads(RANK_PARAMS_PATH.read_text(encoding="utf-8")) == RankParams().as_dict()
    assert load_rank_params() == RankParams()


def test_params_are_frozen_and_pool_grows_with_top_k() -> None:
    params = RankParams()
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.lexical_weight = 1.0  # type: ignore[misc]
    assert params.pool(5) == 50 and params.pool(20) == 80


def test_file_overrides_some_values(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text('{"lexical_weight": 0.1, "near_copy": 0.7}', encoding="utf-8")
    params = load_rank_params(path)
    assert params.lexical_weight == 0.1 and params.near_copy == 0.7 and params.sentence_weight == 0.4
    assert load_rank_params(tmp_path / "absent.json") == RankParams()


def test_unknown_or_broken_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text('{"lexcial_weight": 0.1}', encoding="utf-8")
    with pytest.raises(ValueError, match="unknown ranking parameters.*lexcial_weight.*known are"):
        load_rank_params(path)
    path.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_rank_params(path)
