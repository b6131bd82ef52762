"""Whether the served index still matches the corpus folder, checked cheaply enough to run on every poll.

The manifest of every version records the fingerprint (names and bytes) of the corpus it was built from.
Hashing every post on every poll is wasteful, so a stat signature (names, sizes, mtimes) gates it: the
fingerprint is computed only when the signature changed, and a rebuild is asked for only once the change
has settled (the same signature on two looks), so a folder being copied into is not indexed half-way.
"""

from __future__ import annotations

import logging
from pathlib import Path

from corpus.parse import post_paths
from index.build import corpus_fingerprint

logger = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


def corpus_signature(corpus_dir: Path) -> Signature:
    """Names, sizes and modification times of the post files (no reading)."""
    rows = []
    for path in post_paths(corpus_dir):
        stat = path.stat()
        rows.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(rows)


class CorpusSync:
    """Decides, one look at a time, whether the served index must be rebuilt to match the corpus folder."""

    def __init__(self, corpus_dir: Path) -> None:
        self.corpus_dir = corpus_dir
        self._settled: Signature | None = None  # matched the served index (or its rebuild was tried)
        self._last_look: Signature | None = None

    def out_of_step(self, served_fingerprint: str, settle: bool = True) -> bool:
        """True when the folder's posts differ from those the served index was built from.

        ``settle``: ask for a rebuild only if the folder looked the same on the previous call too.
        """
        signature = corpus_signature(self.corpus_dir)
        if signature == self._settled:
            return False
        previous, self._last_look = self._last_look, signature
        if corpus_fingerprint(self.corpus_dir) == served_fingerprint:
            self._settled = signature
            return False
        if settle and signature != previous:
            return False  # still changing, or first seen: look again next time
        self._settled = signature  # a failed rebuild is not retried until the folder changes again
        return True
