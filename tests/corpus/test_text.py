from corpus.text import char_ngrams, containment, is_cut, normalize, passage_id, split_sentences


def test_normalize_folds_width_space_and_broken_chars() -> None:
    assert normalize("ＡＩ　チップ\n 液冷\ufffd") == "AI チップ 液冷"


def test_passage_id_is_stable_across_width_and_whitespace() -> None:
    assert passage_id("ＡＩチップ  です。") == passage_id("AIチップ です。")
    assert passage_id("AIチップです。") != passage_id("GPUです。")


def test_split_sentences_keeps_closing_quotes() -> None:
    assert split_sentences("液冷は必須だ。「本当か？」と思う。Yes! end") == [
        "液冷は必須だ。",
        "「本当か？」",
        "と思う。",
        "Yes!",
        "end",
    ]


def test_containment_of_subset_is_one() -> None:
    whole = char_ngrams("NVIDIAとAMDの競争は激化している。")
    assert containment(char_ngrams("NVIDIAとAMDの競争"), whole) == 1.0
    assert containment(char_ngrams("まったく別の文章です"), whole) == 0.0


def test_is_cut() -> None:
    assert not is_cut("完結した文です。")
    assert not is_cut("「引用で終わる。」")
    assert is_cut("途中で切れた文")
    assert is_cut("壊れた文字\ufffd")
