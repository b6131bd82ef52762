"""An English→Japanese lexicon for the corpus, cut from JMdict: English glosses → Japanese words the corpus uses.

English questions share few words with Japanese passages, so BM25 cannot help them unless the question's
words are turned into the corpus's words ("cooling" → 冷却, "market capitalisation" → 時価総額). JMdict (the
``jamdict-data`` package, an SQLite file of ~300 MB) is queried when an index version is built; only the
entries whose Japanese form occurs in the corpus are kept, so a version's lexicon is a few hundred KB and a
question's lookup is a few dict probes. Without ``jamdict-data`` the lexicon is empty and nothing is bridged.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

Lexicon = dict[str, list[str]]  # English phrase (folded) → Japanese forms that occur in the corpus

MAX_PHRASE_WORDS = 3  # longer glosses are definitions, not names for a word
MAX_FORM_CHARS = 8  # longer Japanese forms are phrases; the corpus's substrings are indexed up to this
# An English word with more Japanese forms in the corpus than this is too general ("make", "use") to bridge.
MAX_FORMS = 5
SUBSTRING_BATCH = 500_000  # corpus substrings held in Python at once before they go to SQLite

_PARENTHESIS = re.compile(r"\([^)]*\)")
_ARTICLE = re.compile(r"^(?:to|a|an|the) ")
_WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")
# Hiragana-only forms are particles, endings and kana spellings: as substrings they match nearly every passage.
_HIRAGANA_ONLY = re.compile(r"^[\u3040-\u309f\u30fc]+$")
_STOP = frozenset(
    "a an the of to in on for and or is are was were be been by with as at from that this what which who whom "
    "how why when where does do did has have had it its their they them his her he she we you i can could "
    "would should will may might about into than then so such there these those not no more most much many "
    "according article post author say says said".split()
)


def fold(text: str) -> str:
    """NFKC-folded, lower-cased text: how both the lexicon's forms and the passages are compared."""
    return unicodedata.normalize("NFKC", text).lower()


def jmdict_path() -> Path | None:
    """The JMdict SQLite file of the ``jamdict-data`` package, or None if the package is not installed."""
    try:
        import jamdict_data
    except ImportError:
        return None
    path = Path(jamdict_data.__file__).resolve().parent / "jamdict.db"
    return path if path.is_file() else None


def _gloss_key(gloss: str) -> str:
    """A gloss as a lookup key: folded, parentheses and a leading "to"/article dropped, words joined by spaces."""
    words = _WORD.findall(_PARENTHESIS.sub(" ", fold(gloss)))
    return _ARTICLE.sub("", " ".join(words))


def _substrings(text: str) -> set[str]:
    """Every substring of 2..MAX_FORM_CHARS characters of the folded text, except hiragana-only ones."""
    folded = fold(text)
    out = {folded[i : i + size] for size in range(2, MAX_FORM_CHARS + 1) for i in range(len(folded) - size + 1)}
    return {s for s in out if not _HIRAGANA_ONLY.match(s)}


def _corpus_entries(db: sqlite3.Connection, texts: Iterable[str]) -> dict[int, set[str]]:
    """JMdict entry → its Japanese forms that occur in ``texts``."""
    # The corpus's substrings go into a temporary table, one text at a time (SQLite, not Python, holds them,
    # so a large corpus costs disk, not memory), and SQLite's index on JMdict's forms does the matching:
    # only the few thousand matching rows of its ~400,000 forms are ever read into Python.
    db.execute("CREATE TEMP TABLE present (text TEXT PRIMARY KEY) WITHOUT ROWID")
    batch: set[str] = set()
    for text in texts:
        batch |= _substrings(text)
        if len(batch) >= SUBSTRING_BATCH:
            db.executemany("INSERT OR IGNORE INTO present VALUES (?)", ((s,) for s in batch))
            batch = set()
    db.executemany("INSERT OR IGNORE INTO present VALUES (?)", ((s,) for s in batch))
    forms: dict[int, set[str]] = {}
    for table in ("Kanji", "Kana"):
        for entry, text in db.execute(f"SELECT f.idseq, f.text FROM {table} f JOIN present p ON p.text = f.text"):
            forms.setdefault(entry, set()).add(text)
    return forms


def build_lexicon(texts: list[str], path: Path | None = None) -> Lexicon:
    """English phrase → the Japanese forms of its JMdict entries that occur in ``texts`` ({} without JMdict)."""
    path = path or jmdict_path()
    if path is None:
        logger.info("jamdict-data is not installed: English questions get no JMdict bridge (pip install jamdict-data)")
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        forms = _corpus_entries(db, texts)
        db.execute("CREATE TEMP TABLE entries (idseq INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO entries VALUES (?)", ((e,) for e in forms))
        glosses = db.execute(
            "SELECT s.idseq, g.text FROM entries e JOIN Sense s ON s.idseq = e.idseq "
            "JOIN SenseGloss g ON g.sid = s.ID WHERE g.lang = 'eng'"
        ).fetchall()
    finally:
        db.close()
    table: dict[str, set[str]] = {}
    for entry, gloss in glosses:
        key = _gloss_key(gloss)
        if len(key) > 1 and len(key.split()) <= MAX_PHRASE_WORDS:
            table.setdefault(key, set()).update(forms[entry])
    return {key: sorted(found) for key, found in sorted(table.items()) if len(found) <= MAX_FORMS}


def _inflections(word: str) -> list[str]:
    """The word and the stems a plural, -ing or -ed form may come from (dictionary glosses are base forms)."""
    out = [word]
    if word.endswith("ies"):
        out.append(word[:-3] + "y")
    if word.endswith("es"):
        out.append(word[:-2])
    if word.endswith("s"):
        out.append(word[:-1])
    if word.endswith("ing"):
        out += [word[:-3], word[:-3] + "e"]
    if word.endswith("ed"):
        out += [word[:-2], word[:-1]]
    return out


def translate(lexicon: Lexicon, question: str) -> list[list[str]]:
    """The Japanese forms of each English phrase of the question the lexicon knows, longest phrase first.

    One list per matched phrase ("liquid cooling" → ["液冷"]), so callers can count how many of the
    question's phrases a passage covers.
    """
    if not lexicon:
        return []
    words = _WORD.findall(fold(question))
    out: list[list[str]] = []
    i = 0
    while i < len(words):
        match: tuple[int, str] | None = None
        for size in range(min(MAX_PHRASE_WORDS, len(words) - i), 0, -1):
            span = words[i : i + size]
            if span[0] in _STOP or span[-1] in _STOP:
                continue
            key = next((k for k in (" ".join([*span[:-1], w]) for w in _inflections(span[-1])) if k in lexicon), None)
            if key is not None:
                match = (size, key)
                break
        if match is None:
            i += 1
            continue
        out.append(lexicon[match[1]])
        i += match[0]
    return out
