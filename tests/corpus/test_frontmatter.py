"""Untrusted front matter: alias bombs, deep nesting, impossible dates and oversized fields are refused by name."""

from __future__ import annotations

import time

import pytest

from corpus.frontmatter import MAX_FRONT_MATTER_CHARS, FrontMatterError, load_front_matter
from corpus.parse import PostError, parse_post_text

# The classic "billion laughs" (the was 491 bytes): yaml.safe_load expands it to 9**9 "lol"s.
BILLION_LAUGHS = """a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
title: *i
date: 2025-01-01"""


def _post(front: str) -> str:
    return f"---\n{front}\n---\n\n液冷はサーバーの熱を水で運び去る技術であり、空冷より多くの熱を扱える。\n"


def test_billion_laughs_is_refused_at_once() -> None:
    assert len(BILLION_LAUGHS.encode()) < 512
    started = time.perf_counter()
    with pytest.raises(PostError, match=r"bomb\.txt: front matter uses a YAML anchor"):
        parse_post_text(_post(BILLION_LAUGHS), "bomb", "bomb.txt")
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize(
    ("front", "message"),
    [
        ("title: *x\ndate: 2025-01-01", "alias"),
        ("title: &x 液冷\ndate: 2025-01-01", "anchor"),
        ("title: 液冷\ndate: 2025-02-30", r"ValueError: day is out of range"),
        ("title: " + "[" * 5000 + "]" * 5000 + "\ndate: 2025-01-01", "nested more than"),
        ("title: 液冷\ndate: 2025-01-01\nx: [" + ", ".join(["1"] * 3000) + "]", "more than 2000 values"),
        ("title: 液冷\ndate: 2025-01-01\nexcerpt: '" + "あ" * MAX_FRONT_MATTER_CHARS + "'", "over the 16,384 limit"),
        ("title: [a, b]\ndate: 2025-01-01", "'title' must be a single text value"),
        ("title: {a: b}\ndate: 2025-01-01", "'title' must be a single text value"),
        ("title: " + "長" * 301 + "\ndate: 2025-01-01", "'title' is 301 characters long: shorten it to 300"),
        ("title: 液冷\nauthor: [x]\ndate: 2025-01-01", "'author' must be a single text value"),
        ("title: 液冷\ndate: 2025-01-01\ntags: [[a]]", "'tags' must be a list of short texts"),
        ("title: 液冷\ndate: 2025-01-01\ntags: [" + "t" * 101 + "]", "'tags' has an entry of 101 characters"),
        ("title: 液冷\ndate: 2025-01-01\ncategories: [" + ",".join("c" * 51) + "]", "'categories' has 51 entries"),
        ("- just\n- a list", "must be 'key: value' lines"),
    ],
)
def test_unusable_front_matter_is_rejected_by_name(front: str, message: str) -> None:
    with pytest.raises(PostError, match=message) as caught:
        parse_post_text(_post(front), "bad", "bad.txt")
    assert str(caught.value).startswith("bad.txt: ")


def test_usual_front_matter_is_typed() -> None:
    meta = load_front_matter('title: "液冷"\ndate: 2025-01-01\ntags: AI\ncategories: ["投資", 2025]\nauthor: 編集部 ')
    assert meta["title"] == "液冷" and meta["author"] == "編集部" and meta["excerpt"] is None
    assert meta["tags"] == ["AI"] and meta["categories"] == ["投資", "2025"]


def test_only_front_matter_error_escapes() -> None:
    for source in ("a: !!python/object:os.system x", "a: !!binary '%%%'", "? [a, b]\n: c", "a: 1e99999"):
        try:
            load_front_matter(source)
        except FrontMatterError:
            pass
