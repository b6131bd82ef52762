from corpus.clean import clean_body


def _body(text: str) -> list[tuple[int, str]]:
    return list(enumerate(text.splitlines(), start=1))


def _texts(text: str, title: str = "題名") -> list[str]:
    paragraphs, _ = clean_body("a", title, _body(text))
    return [p.text for p in paragraphs]


def test_chunk_markers_are_dropped() -> None:
    assert _texts("一つ目の段落です。\n\n---END---\n\n二つ目の段落です。") == [
        "一つ目の段落です。",
        "二つ目の段落です。",
    ]


def test_headings_become_sections_and_empty_headings_vanish() -> None:
    paragraphs, stats = clean_body(
        "a", "題名", _body("### 液冷の未来\n\n液冷は必須になる。\n\n###\n\n**市場の多極化**\n\nTPUが伸びる。")
    )
    assert [(p.section, p.text) for p in paragraphs] == [
        ("液冷の未来", "液冷は必須になる。"),
        ("市場の多極化", "TPUが伸びる。"),
    ]
    assert stats.headings == 2


def test_inline_bold_markers_are_removed_but_text_kept() -> None:
    assert _texts("一つ目は、**ソフトウェア定義冷却**です。") == ["一つ目は、ソフトウェア定義冷却です。"]


def test_collapsed_line_is_split_into_paragraphs_and_title_dropped() -> None:
    line = "題名だ？ 最初の段落です。まだ続く。 二つ目の段落です。 三つ目の「段落」。"
    paragraphs, stats = clean_body("a", "題名だ？", _body(line))
    assert [p.text for p in paragraphs] == ["最初の段落です。まだ続く。", "二つ目の段落です。", "三つ目の「段落」。"]
    assert stats.collapsed_lines == 1


def test_question_mark_space_inside_a_normal_paragraph_is_not_a_split() -> None:
    assert _texts("面白いと思わないかい？ メタが動いた。") == ["面白いと思わないかい？ メタが動いた。"]


def test_dotted_continuation_is_joined_with_overlap_removed() -> None:
    text = "競争軸は変わり、非常に魅力的な選択\n\n---END---\n\n...魅力的な選択となるだろう。実際に動いている。"
    paragraphs, stats = clean_body("a", "題名", _body(text))
    assert [p.text for p in paragraphs] == ["競争軸は変わり、非常に魅力的な選択となるだろう。実際に動いている。"]
    assert paragraphs[0].lines == [1, 5]
    assert stats.continuations_joined == 1


def test_continuation_after_marker_starting_with_particle_is_joined() -> None:
    text = "自社のAIエコシステムをNVIDIA\n\n---END---\n\nの牙城を崩し、影響力を拡大しようとしている。"
    assert _texts(text) == ["自社のAIエコシステムをNVIDIAの牙城を崩し、影響力を拡大しようとしている。"]


def test_continuation_after_complete_paragraph_stays_separate_without_dots() -> None:
    text = "完結した段落です。\n\n---END---\n\n...魅力的な選択となるだろう。"
    assert _texts(text) == ["完結した段落です。", "魅力的な選択となるだろう。"]
