"""Find the texts that contain most of a given text's n-grams, without comparing against every text.

An inverted index over n-grams with prefix filtering: for containment ≥ t, a text of n grams must share
at least m = ⌈t·n⌉ of them, so it must share one of any n − m + 1 of them. Probing only the n − m + 1
rarest grams yields every possible match (no false negatives); each candidate is then verified exactly
with ``containment``, so the answers equal an all-pairs comparison.
"""

from __future__ import annotations

from collections import defaultdict

from corpus.text import containment


def required_overlap(size: int, threshold: float) -> int:
    """The fewest shared grams m with m / size ≥ threshold (the same float test ``containment`` makes)."""
    if size == 0:
        return 0
    m = max(0, min(size, int(threshold * size)))
    while m > 0 and (m - 1) / size >= threshold:
        m -= 1
    while m < size and m / size < threshold:
        m += 1
    return m


class ContainmentIndex:
    """Gram sets added one by one (ids 0, 1, …); ``containing`` finds those that contain a query set."""

    def __init__(self) -> None:
        self._grams: list[set[str]] = []
        self._postings: defaultdict[str, list[int]] = defaultdict(list)

    def __len__(self) -> int:
        return len(self._grams)

    def add(self, grams: set[str]) -> int:
        """Index one gram set; returns its id."""
        ident = len(self._grams)
        self._grams.append(grams)
        for gram in grams:
            self._postings[gram].append(ident)
        return ident

    def containing(self, part: set[str], threshold: float) -> list[int]:
        """Ids (ascending) of indexed sets ``whole`` with ``containment(part, whole) >= threshold``."""
        if not part or threshold <= 0:
            return list(range(len(self._grams)))  # every set contains nothing (containment 1.0)
        probes = len(part) - required_overlap(len(part), threshold) + 1
        postings = self._postings
        # The rarest grams give the fewest candidates; grams nobody has cost nothing.
        rare = sorted(part, key=lambda g: len(postings.get(g, ())))[:probes]
        candidates: set[int] = set()
        for gram in rare:
            candidates.update(postings.get(gram, ()))
        return sorted(i for i in candidates if containment(part, self._grams[i]) >= threshold)
