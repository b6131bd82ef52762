from pathlib import Path

import pytest

from corpus.parse import PostError, parse_post_text, read_post
from tests.conftest import make_post


def test_front_matter_becomes_article() -> None:
    post = parse_post_text(make_post("液冷の未来", "本文です。液冷は重要だ。\n"), "001_abc")
    assert post.article.id == "001_abc"
    assert post.article.title == "液冷の未来"
    assert post.article.date == "2025-11-26"
    assert post.article.tags == ["AI"]


def test_cut_title_is_repaired_from_first_body_line_which_is_not_a_paragraph() -> None:
    text = make_post(
        "メタがGoogle TPUを採用？ AIイン\ufffd", "メタがGoogle TPUを採用？ AIインフラの未来\n\n本文です。\n"
    )
    post = parse_post_text(text, "002")
    assert post.article.title == "メタがGoogle TPUを採用？ AIインフラの未来"
    assert [line for _, line in post.body if line.strip()] == ["本文です。"]


def test_cut_title_without_matching_line_loses_only_the_broken_char() -> None:
    post = parse_post_text(make_post("HPEとAMDの発\ufffd", "まったく別の書き出しです。\n"), "004")
    assert post.article.title == "HPEとAMDの発"
    assert len([line for _, line in post.body if line.strip()]) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("本文だけ。\n", "no front matter"),
        ("---\ntitle: x\ndate: 2025-01-01\n本文\n", "not closed"),
        ("---\ndate: 2025-01-01\n---\n本文です。\n", "no 'title'"),
        ("---\ntitle: x\n---\n本文です。\n", "no 'date'"),
        ("---\ntitle: x\ndate: someday\n---\n本文です。\n", "not a date"),
        ("---\ntitle: x\ndate: 2025-01-01\n---\n\n---END---\n", "body is empty"),
        ("---\ntitle: [unclosed\ndate: 2025-01-01\n---\n本文\n", "not valid YAML"),
        ("---\ntitle: x\x00\ndate: 2025-01-01\n---\n本文\n", "binary"),
    ],
)
def test_bad_posts_are_rejected_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(PostError, match=message):
        parse_post_text(text, "bad")


def test_non_utf8_file_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sjis.txt"
    path.write_bytes(make_post("題名", "日本語の本文です。").encode("shift_jis"))
    with pytest.raises(PostError, match=r"sjis\.txt: is not valid UTF-8"):
        read_post(path)
