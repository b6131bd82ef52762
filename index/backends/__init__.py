"""The small interface every index backend implements, so fusion is a few lines over any two of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

import numpy as np

Hits = list[tuple[int, float]]  # (row in the passage table, backend score), best first


@dataclass
class Documents:
    """What a backend indexes: one text (and, for dense backends, one unit vector) per passage row."""

    texts: list[str]
    vectors: np.ndarray | None = None


@dataclass
class Queries:
    """A batch of questions: their texts and, for dense backends, their unit vectors."""

    texts: list[str]
    vectors: np.ndarray | None = None


class Backend(Protocol):
    """A searchable index over passage rows: build, search, save, load."""

    name: str

    def build(self, docs: Documents) -> None:
        """Index all documents (rows are positions in ``docs``)."""

    def search(self, queries: Queries, k: int) -> list[Hits]:
        """The top ``k`` rows for each query, best first."""

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (which exists)."""

    @classmethod
    def load(cls, folder: Path) -> Self:
        """Read an index written by ``save``."""
