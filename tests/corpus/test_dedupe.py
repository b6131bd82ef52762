from corpus.clean import Paragraph
from corpus.dedupe import MAX_PASSAGE_CHARS, dedupe_paragraphs, split_long

LONG = "液冷技術はデータセンターの電力効率を大きく改善する。NVIDIAとAMDは次世代GPUで液冷を前提にしている。"


def _para(text: str, article: str = "a", line: int = 1) -> Paragraph:
    return Paragraph(article, text, [line], None, order=line)


def _run(*paragraphs: Paragraph):
    kept, report = dedupe_paragraphs(list(paragraphs))
    return [k.paragraph.text for k in kept], kept, report


def test_exact_duplicates_after_normalisation_collapse_with_sources() -> None:
    texts, kept, report = _run(_para(LONG, line=3), _para(LONG.replace("NVIDIA", "ＮＶＩＤＩＡ"), "b", 9))
    assert texts == [LONG]
    assert kept[0].sources == {("a", 3), ("b", 9)}
    assert report.exact["b"] == 1


def test_truncated_copy_is_removed_in_favour_of_the_complete_one() -> None:
    texts, kept, report = _run(_para(LONG[:30] + "\ufffd", line=1), _para(LONG, line=5))
    assert texts == [LONG]
    assert kept[0].sources == {("a", 1), ("a", 5)}
    assert report.truncated["a"] == 1


def test_near_duplicate_keeps_the_most_complete_version() -> None:
    base = (
        LONG
        + "さらに、液体冷却の普及率は来年には全体の半分近くに達すると予測されており、"
        + "特に大規模なAIデータセンターを中心に、業界全体の構造が大きく変わりつつある。"
    )
    edited = base.replace("来年", "翌年")
    longer = base + "これは投資家にとっても重要な変化だ。"
    texts, _, report = _run(_para(edited, line=1), _para(longer, line=2))
    assert texts == [longer]
    assert report.near_duplicate["a"] == 1


def test_similar_paragraph_with_a_sentence_of_its_own_is_kept() -> None:
    own = LONG + "ところで、全く新しい論点として量子コンピュータの冷却についても触れておきたいと思う。"
    texts, _, _ = _run(_para(own, line=1), _para(LONG + "短い補足。", line=2))
    assert own in texts


def test_short_stray_lines_are_dropped() -> None:
    texts, _, report = _run(_para("投資家の皆さんには、この"), _para(LONG, line=2))
    assert texts == [LONG]
    assert report.stray["a"] == 1


def test_split_long_cuts_at_sentence_boundaries_under_the_cap() -> None:
    text = "".join(f"これは{i}番目の文で、長い段落を作るために少しだけ言葉を足している。" for i in range(40))
    pieces = split_long(text)
    assert len(pieces) >= 2
    assert all(len(p) <= MAX_PASSAGE_CHARS for p in pieces)
    assert all(p.endswith("。") for p in pieces)
    assert "".join(pieces) == text


def test_split_long_leaves_short_text_alone() -> None:
    assert split_long(LONG) == [LONG]
