import pytest

from index.fusion import bm25_confidence, japanese_share, reciprocal_rank_fusion, weighted_fusion


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("Why would Meta adopt Google's TPUs?", 0.0, 0.0),
        ("メタがTPUを導入する理由は？", 0.7, 0.85),
        ("液冷の普及率は？", 1.0, 1.0),
    ],
)
def test_japanese_share(text: str, low: float, high: float) -> None:
    assert low <= japanese_share(text) <= high


def test_bm25_confidence_is_high_for_a_clear_winner() -> None:
    assert bm25_confidence([(0, 10.0), (1, 1.0), (2, 1.0)]) == pytest.approx(0.9)
    assert bm25_confidence([(0, 5.0), (1, 5.0)]) == 0.0
    assert bm25_confidence([]) == 0.0


def test_english_question_keeps_the_dense_order() -> None:
    dense = [(0, 0.90), (1, 0.89), (2, 0.80)]
    lexical = [(2, 20.0), (1, 1.0)]
    assert [r for r, _ in weighted_fusion("Why TPUs?", dense, lexical, weight=0.5)] == [0, 1, 2]


def test_japanese_question_with_a_confident_bm25_winner_moves_it_up() -> None:
    dense = [(0, 0.90), (1, 0.89), (2, 0.88)]
    lexical = [(2, 20.0), (1, 1.0)]
    assert [r for r, _ in weighted_fusion("液冷の普及率は？", dense, lexical, weight=0.1)][0] == 2


def test_rrf_sums_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([(0, 1.0), (1, 0.5)], [(1, 3.0), (2, 1.0)], k=1)
    assert [r for r, _ in fused] == [1, 0, 2]
    assert fused[0][1] == pytest.approx(1 / 3 + 1 / 2)
