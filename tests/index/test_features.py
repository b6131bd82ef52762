"""Pool features on hand-made inputs: every value below is worked out by hand."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.features import (
    ABSTENTION_FEATURES,
    FEATURES,
    JMDICT_FEATURES,
    CharBigramBM25,
    GlossBridge,
    QuestionSignals,
    abstention_features,
    best_two_sentences,
    char_bigrams,
    corpus_density,
    latin_terms,
    name_terms,
    passage_terms,
    pool_features,
)


def test_best_two_sentences_per_passage() -> None:
    # Passage 0: sentences .1 .5 .3; passage 1: none; passage 2: one (.7); passage 3: .2 .9.
    best, second = best_two_sentences(np.array([0, 3, 3, 4, 6]), np.array([0.1, 0.5, 0.3, 0.7, 0.2, 0.9]))
    assert best.tolist() == pytest.approx([0.5, 0.0, 0.7, 0.9])
    assert second.tolist() == pytest.approx([0.3, 0.0, 0.7, 0.2])


def test_best_two_sentences_with_a_tie_keeps_the_tied_value_as_second() -> None:
    best, second = best_two_sentences(np.array([0, 2]), np.array([0.4, 0.4]))
    assert (best[0], second[0]) == pytest.approx((0.4, 0.4))


def test_latin_terms_fold_width_and_case_and_drop_stopwords() -> None:
    assert latin_terms("What is ＮＶＩＤＩＡ's MI300X share in 2025?") == {"nvidia", "mi300x", "share", "2025"}


def test_name_terms_take_capitalised_words_in_english_and_latin_words_in_japanese() -> None:
    assert name_terms("Why would Meta adopt Google's TPUs? How fast is Groq.") == {"meta", "google", "tpus", "groq"}
    assert name_terms("MicrosoftのMaia 100の性能は？") == {"microsoft", "maia"}


def test_char_bigrams_ignore_whitespace_and_width() -> None:
    assert char_bigrams("液冷 ＡＩ") == ["液冷", "冷a", "ai"]


def test_char_bigram_bm25_scores_only_passages_sharing_bigrams() -> None:
    scorer = CharBigramBM25(["液冷サーバー", "空冷ファン", "液冷"])
    scores = scorer.scores("液冷")
    assert scores[1] == 0.0 and scores[0] > 0 and scores[2] > 0
    assert scores[2] > scores[0]  # the same match in a shorter passage
    assert scorer.scores("zz").tolist() == [0.0, 0.0, 0.0]


def test_gloss_bridge_maps_english_words_to_the_corpus_loanwords() -> None:
    bridge = GlossBridge(["AIチップの市場シェアが伸びた。"])
    assert "チップ" in bridge.translate("Who sells AI chips?")  # UniDic: チップ-chip, plural folded
    assert bridge.translate("Why is the sky blue?") == []


def test_gloss_bridge_gives_the_same_lemmas_in_every_process() -> None:
    # The lemmas are joined into one BM25 query that fugashi tokenises in context ("ラック" first comes out
    # as "ｒａｃ"), so their order changes the scores: it must not follow the process's string-hash seed.
    code = (
        "import json; from index.features import GlossBridge; "
        "b = GlossBridge(['エンタープライズ向けのラックにはパートナーが要る。']); "
        "print(json.dumps(b.translate('What partner does AMD need to reach enterprise customers?')))"
    )
    root = Path(__file__).resolve().parents[2]
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": str(seed), "PYTHONPATH": str(root)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(outputs) == 1, outputs
    assert sorted(json.loads(outputs.pop())) == ["エンタープライズ", "パートナー"]


def test_two_letter_capitals_are_abbreviations_not_names() -> None:
    assert name_terms("Which parts will Foxconn build in the US and the UK?") == {"foxconn"}
    assert name_terms("DCネットワークとNVLinkの違いは？") == {"nvlink"}
    assert name_terms("How many GB does Rubin carry?") == {"rubin"}


def test_unknown_names_leave_out_words_called_common() -> None:
    terms = passage_terms(["NVIDIAの投資"], lambda text: [])
    question = "How much is NVIDIA putting into British AI, and what does Cerebras say?"
    assert terms.unknown_names(question) == 2  # british, cerebras
    assert terms.unknown_names(question, common=lambda word: word == "British") == 1  # as written, not lower-cased


def test_unknown_names_count_names_the_corpus_never_mentions() -> None:
    terms = passage_terms(["NVIDIAとAMDのGPU-4"], lambda text: [], ["Meta and TPU"])
    assert terms.unknown_names("How does Groq compare with NVIDIA and Meta?") == 1  # groq
    assert terms.unknown_names("GPUの性能は？") == 0  # "gpu-4" vouches for "gpu"


def _signals(**overrides) -> QuestionSignals:
    values = {
        "text": "液冷 AI",
        "vector": np.array([1.0, 0.0], dtype=np.float32),
        "bm25": np.array([2.0, 0.0, 4.0], dtype=np.float32),
        "bm25_bridge": np.zeros(3, dtype=np.float32),
        "char_bm25": np.array([1.0, 3.0, 0.0], dtype=np.float32),
        "lemmas": frozenset({"液冷", "ai"}),
        "latin": frozenset({"ai"}),
    }
    return QuestionSignals(**{**values, **overrides})


def test_pool_features_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    terms = passage_terms(["液冷 AI", "AI", "空冷"], lambda text: text.lower().split())
    rows = np.array([2, 0])  # pool order: passage 2 first
    sentences = (np.array([0.2, 0.9], dtype=np.float32), np.array([0.1, 0.5], dtype=np.float32))
    x = pool_features(_signals(), rows, vectors, sentences, terms, np.array([0.25, 0.75], dtype=np.float32))
    assert x.shape == (2, len(FEATURES))
    col = {name: x[:, i].tolist() for i, name in enumerate(FEATURES)}
    assert col["cos"] == pytest.approx([0.0, 1.0])
    assert col["sent1"] == pytest.approx([0.2, 0.9]) and col["sent2"] == pytest.approx([0.1, 0.5])
    assert col["bm25"] == pytest.approx([4.0, 2.0])
    assert col["char_bm25"] == pytest.approx([0.0, 1.0])
    assert col["coverage"] == pytest.approx([0.0, 1.0])  # passage 0 has both lemmas, passage 2 neither
    assert col["latin"] == pytest.approx([0.0, 1.0])
    assert col["rel_cos"] == pytest.approx([-1.0, 0.0]) and col["rel_bm25"] == pytest.approx([0.0, -2.0])
    assert col["maxsim"] == pytest.approx([0.25, 0.75]) and col["rel_maxsim"] == pytest.approx([-0.5, 0.0])
    assert col["bm25_norm"] == pytest.approx([1.0, 0.5])
    share = 2 / 4  # 液冷 (2 kanji) vs "AI" (2 Latin letters)
    assert col["ja_bm25_norm"] == pytest.approx([share * 1.0, share * 0.5])
    assert col["en_bridge_norm"] == pytest.approx([0.0, 0.0])  # no bridged words: zeros, not NaN


def test_abstention_features_are_absolute_pool_maxima_per_language() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    terms = passage_terms(["液冷", "空冷"], lambda text: [text])
    sentences = (np.array([0.3, 0.6], dtype=np.float32), np.array([0.3, 0.6], dtype=np.float32))
    signals = _signals(bm25=np.array([1.0, 5.0]), char_bm25=np.zeros(2), unknown_names=3, known_share=0.4)
    x = pool_features(signals, np.array([0, 1]), vectors, sentences, terms, np.zeros(2, dtype=np.float32))
    absolute = dict(zip(ABSTENTION_FEATURES, abstention_features(signals, x).tolist()))
    share = 0.5  # "液冷 AI": 2 kanji, 2 Latin letters
    assert absolute["ja_share"] == pytest.approx(share)
    assert absolute["ja_max_cos"] == pytest.approx(share * 1.0)
    assert absolute["en_max_cos"] == pytest.approx((1 - share) * 1.0)
    density = (1.0 + 0.0) / 2  # the pool's cosines, fewer than DENSITY_NEIGHBOURS: their mean
    assert absolute["ja_density"] == pytest.approx(share * density)
    assert absolute["en_density"] == pytest.approx((1 - share) * density)
    assert absolute["ja_max_bm25"] == pytest.approx(share * 5.0)
    assert absolute["ja_known_share"] == pytest.approx(share * 0.4)
    assert absolute["unknown_names"] == 2  # capped


def test_jmdict_features_by_hand() -> None:
    vectors = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
    terms = passage_terms(["液冷サーバーの冷却", "ＡＩチップ", "空冷"], lambda text: text.split())
    rows = np.array([0, 1, 2])
    sentences = (np.zeros(3, dtype=np.float32), np.zeros(3, dtype=np.float32))
    signals = _signals(
        text="Why cool servers with liquid cooling?",
        bm25=np.zeros(3, dtype=np.float32),
        char_bm25=np.zeros(3, dtype=np.float32),
        bm25_jmdict=np.array([3.0, 0.0, 1.5], dtype=np.float32),
        jmdict_phrases=[["液冷"], ["サーバ", "サーバー"], ["チップ"], ["水冷"]],
    )
    x = pool_features(signals, rows, vectors, sentences, terms, np.zeros(len(rows), dtype=np.float32))
    col = {name: x[:, i].tolist() for i, name in enumerate(FEATURES)}
    assert col["bm25_jmdict"] == pytest.approx([3.0, 0.0, 1.5])
    assert col["rel_bm25_jmdict"] == pytest.approx([0.0, -3.0, -1.5])
    assert col["en_jmdict_norm"] == pytest.approx([1.0, 0.0, 0.5])  # an English question: share 0
    # Passage 0 holds 液冷 and サーバー (2 of 4 phrases), passage 1 チップ (width-folded ＡＩ), passage 2 none.
    assert col["jmdict_coverage"] == pytest.approx([0.5, 0.25, 0.0])
    assert col["rel_jmdict_coverage"] == pytest.approx([0.0, -0.25, -0.5])


def test_jmdict_features_are_zero_without_bridged_phrases() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    terms = passage_terms(["液冷", "空冷"], lambda text: [text])
    sentences = (np.zeros(2, dtype=np.float32), np.zeros(2, dtype=np.float32))
    signals = _signals(bm25=np.ones(2), char_bm25=np.zeros(2))
    x = pool_features(signals, np.array([0, 1]), vectors, sentences, terms, np.zeros(2, dtype=np.float32))
    jmdict = [FEATURES.index(name) for name in JMDICT_FEATURES]
    assert not x[:, jmdict].any()


def test_lead_marks_each_articles_first_paragraph() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    terms = passage_terms(["a", "b", "c"], lambda text: [text], paragraphs=[1, 2, 1])
    sentences = (np.zeros(2, dtype=np.float32), np.zeros(2, dtype=np.float32))
    signals = _signals(bm25=np.ones(3), char_bm25=np.zeros(3), bm25_bridge=np.zeros(3))
    x = pool_features(signals, np.array([1, 2]), vectors, sentences, terms, np.zeros(2, dtype=np.float32))
    assert x[:, FEATURES.index("lead")].tolist() == [0.0, 1.0]
    unknown = passage_terms(["a", "b"], lambda text: [text])  # no ordinals given: nothing is a lead
    x = pool_features(signals, np.array([0, 1]), vectors[:2], sentences, unknown, np.zeros(2, dtype=np.float32))
    assert not x[:, FEATURES.index("lead")].any()


def test_abstention_features_of_an_empty_pool_are_zero_similarity() -> None:
    signals = _signals(text="Why?", bm25=np.zeros(0), char_bm25=np.zeros(0))
    absolute = dict(zip(ABSTENTION_FEATURES, abstention_features(signals, np.zeros((0, len(FEATURES)))).tolist()))
    assert absolute["en_max_cos"] == 0.0 and absolute["en_density"] == 0.0 and absolute["ja_max_bm25"] == 0.0


def test_corpus_density_is_the_mean_of_the_nearest_cosines() -> None:
    cosines = np.array([0.1, 0.9, 0.5, 0.7, 0.3], dtype=np.float32)
    assert corpus_density(cosines, neighbours=2) == pytest.approx(0.8)
    assert corpus_density(cosines, neighbours=10) == pytest.approx(0.5)  # fewer passages than neighbours: all
    assert corpus_density(np.zeros(0, dtype=np.float32)) == 0.0


def test_known_share_weighs_lemmas_the_corpus_never_uses_most() -> None:
    # 4 passages: 冷却 in all of them (common), 液冷 in one (rare), 親子丼 in none.
    terms = passage_terms(["冷却 液冷", "冷却", "冷却", "冷却"], lambda text: text.split())
    assert terms.known_share(frozenset({"冷却", "液冷"})) == 1.0
    assert terms.known_share(frozenset()) == 1.0  # nothing to judge (an English question)
    assert terms.known_share(frozenset({"gpu"})) == 1.0  # Latin words are unknown_names' business
    idf = {"冷却": np.log(5 / 4.5), "親子丼": np.log(5 / 0.5)}
    expected = idf["冷却"] / (idf["冷却"] + idf["親子丼"])
    assert terms.known_share(frozenset({"冷却", "親子丼"})) == pytest.approx(expected)
    assert terms.known_share(frozenset({"冷却", "親子丼"})) < 0.1  # one unknown content word outweighs a known one
