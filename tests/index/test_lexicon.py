"""The JMdict lexicon, built from a small JMdict-shaped SQLite file made here (same tables as jamdict-data)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from index.lexicon import MAX_FORMS, build_lexicon, jmdict_path, translate

# (entry, kanji forms, kana forms, English glosses of its senses)
ENTRIES = [
    (1, ["冷却"], ["れいきゃく"], ["cooling", "refrigeration"]),
    (2, ["液冷"], ["えきれい"], ["liquid cooling"]),
    (3, [], ["サーバー", "サーバ"], ["server (computer)"]),
    (4, ["導入"], ["どうにゅう"], ["introduction", "to adopt (e.g. a technology)"]),
    (5, ["空"], ["そら"], ["sky"]),  # not in the corpus below
    (6, [], ["する"], ["to do", "to make"]),  # hiragana only: as a substring it would match everything
    *[(10 + i, [f"作{i}"], [], ["make"]) for i in range(MAX_FORMS + 1)],  # a word too general to bridge
]
CORPUS = ["液冷サーバーの冷却を導入する。", "作0作1作2作3作4作5"]


@pytest.fixture
def jmdict(tmp_path: Path) -> Path:
    path = tmp_path / "jamdict.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE Kanji (ID INTEGER PRIMARY KEY, idseq INTEGER, text TEXT);"
            "CREATE TABLE Kana (ID INTEGER PRIMARY KEY, idseq INTEGER, text TEXT, nokanji BOOLEAN);"
            "CREATE TABLE Sense (ID INTEGER PRIMARY KEY, idseq INTEGER);"
            "CREATE TABLE SenseGloss (sid INTEGER, lang TEXT, gend TEXT, text TEXT);"
        )
        for entry, kanji, kana, glosses in ENTRIES:
            db.executemany("INSERT INTO Kanji (idseq, text) VALUES (?, ?)", [(entry, k) for k in kanji])
            db.executemany("INSERT INTO Kana (idseq, text) VALUES (?, ?)", [(entry, k) for k in kana])
            for gloss in glosses:
                sense = db.execute("INSERT INTO Sense (idseq) VALUES (?)", (entry,)).lastrowid
                db.execute("INSERT INTO SenseGloss VALUES (?, 'eng', NULL, ?)", (sense, gloss))
                db.execute("INSERT INTO SenseGloss VALUES (?, 'ger', NULL, ?)", (sense, gloss + " (de)"))
    return path


def test_lexicon_keeps_only_forms_the_corpus_uses(jmdict: Path) -> None:
    lexicon = build_lexicon(CORPUS, jmdict)
    assert lexicon["cooling"] == ["冷却"] and lexicon["refrigeration"] == ["冷却"]
    assert lexicon["liquid cooling"] == ["液冷"]
    assert lexicon["server"] == ["サーバ", "サーバー"]  # parenthesised note dropped; both spellings occur
    assert lexicon["adopt"] == ["導入"]  # "to" and the note dropped
    assert "sky" not in lexicon  # 空 is not in the corpus
    assert "do" not in lexicon  # する is hiragana only
    assert "make" not in lexicon  # more than MAX_FORMS forms: too general


def test_translate_takes_the_longest_phrase_and_base_forms(jmdict: Path) -> None:
    lexicon = build_lexicon(CORPUS, jmdict)
    assert translate(lexicon, "Why would Meta adopt liquid cooling for its servers?") == [
        ["導入"],
        ["液冷"],  # "liquid cooling" as one phrase, not "cooling" alone
        ["サーバ", "サーバー"],  # plural folded
    ]
    assert translate(lexicon, "What is the sky like?") == []
    assert translate({}, "liquid cooling") == []


def test_lexicon_is_empty_without_jmdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("index.lexicon.jmdict_path", lambda: None)
    assert build_lexicon(CORPUS) == {}


@pytest.mark.skipif(jmdict_path() is None, reason="jamdict-data is not installed")
def test_the_real_jmdict_bridges_english_to_the_corpus_words() -> None:
    lexicon = build_lexicon(["液冷サーバーの冷却と時価総額"])
    assert translate(lexicon, "market capitalisation of liquid cooling") == [["時価総額"], ["液冷"]]
    assert "冷却" in lexicon["cooling"]
