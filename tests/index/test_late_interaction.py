"""Token-level matching: which tokens count, the token table, and MaxSim against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from index.late_interaction import TokenTable, content_tokens, is_content, maxsim
from index.model.base import TokenEncoding


@pytest.mark.parametrize(
    ("piece", "content"),
    [
        ("液冷", True),
        ("TPU", True),
        ("Meta", True),
        ("2026", True),
        ("する", True),  # two hiragana: a word, not a particle
        ("が", False),
        ("の", False),
        (" ", False),  # a bare word-start marker
        ("、", False),
        ("?", False),
        ("「", False),
        ("the", False),
        ("Why", False),
    ],
)
def test_content_pieces(piece: str, content: bool) -> None:
    assert is_content(piece) is content


def _unit(rows: list[list[float]]) -> np.ndarray:
    m = np.asarray(rows, dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_content_tokens_drop_weak_pieces_but_never_every_token() -> None:
    tokens = _unit([[1, 0], [0, 1], [1, 1]])
    encoding = TokenEncoding(
        vectors=np.zeros((2, 2), np.float32),
        tokens=[tokens, tokens[:2]],
        pieces=[["液冷", "の", "冷却"], ["?", "、"]],
    )
    kept = content_tokens(encoding)
    np.testing.assert_array_equal(kept[0], tokens[[0, 2]])
    np.testing.assert_array_equal(kept[1], tokens[:2])  # nothing carries content: all kept, not none


def test_token_table_blocks_follow_the_offsets() -> None:
    blocks = [_unit([[1, 0], [0, 1]]), np.zeros((0, 2), np.float32), _unit([[1, 1]])]
    table = TokenTable.from_blocks(blocks, 2)
    assert table.offsets.tolist() == [0, 2, 2, 3] and table.vectors.dtype == np.float32
    for row, block in enumerate(blocks):
        np.testing.assert_array_equal(table.block(row), block)
    empty = TokenTable.from_blocks([], 2)
    assert empty.offsets.tolist() == [0] and empty.vectors.shape == (0, 2)


def test_maxsim_is_the_mean_best_match_of_each_question_token() -> None:
    rng = np.random.default_rng(0)
    blocks = [_unit(rng.normal(size=(n, 8)).tolist()) for n in (5, 1, 12, 3)] + [np.zeros((0, 8), np.float32)]
    table = TokenTable.from_blocks(blocks, 8)
    query = _unit(rng.normal(size=(4, 8)).tolist())
    rows = np.array([2, 0, 4, 3])
    want = [max(float(q @ t) for t in blocks[r]) for r in rows[:2] for q in query]
    got = maxsim(table, rows, query)
    assert got.dtype == np.float32 and got.shape == (4,)
    assert got[0] == pytest.approx(np.mean(want[:4]), abs=1e-6)
    assert got[1] == pytest.approx(np.mean(want[4:]), abs=1e-6)
    assert got[2] == 0.0  # a passage without tokens
    brute = np.mean([[max(float(q @ t) for t in blocks[3])] for q in query])
    assert got[3] == pytest.approx(brute, abs=1e-6)


def test_maxsim_of_a_question_without_tokens_is_zero() -> None:
    table = TokenTable.from_blocks([_unit([[1, 0]])], 2)
    assert maxsim(table, np.array([0]), np.zeros((0, 2), np.float32)).tolist() == [0.0]


def test_a_passage_that_repeats_the_question_word_for_word_scores_one() -> None:
    words = _unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    table = TokenTable.from_blocks([words, words[:1]], 3)
    got = maxsim(table, np.array([0, 1]), words[:2])
    assert got[0] == pytest.approx(1.0) and got[1] == pytest.approx(0.5)


def test_maxsim_matches_a_per_passage_loop_on_random_pools() -> None:
    """Spans of neighbouring passages, empty passages and any pool order give what one product per passage gives."""
    rng = np.random.default_rng(1)
    blocks = [
        _unit(rng.normal(size=(n, 16)).tolist()) if n else np.zeros((0, 16), np.float32)
        for n in rng.integers(0, 9, size=40)
    ]
    table = TokenTable.from_blocks(blocks, 16)
    for _ in range(25):
        rows = rng.choice(40, size=int(rng.integers(1, 40)), replace=False)
        query = _unit(rng.normal(size=(int(rng.integers(1, 20)), 16)).tolist())  # padded to 8, 16 or 24 columns
        want = [float((blocks[r] @ query.T).max(axis=0).mean()) if len(blocks[r]) else 0.0 for r in rows]
        np.testing.assert_allclose(maxsim(table, rows, query), want, atol=1e-6)
