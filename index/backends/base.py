"""The small interface every index backend implements, so fusion is a few lines over any two of them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Self

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
    """A searchable index over passage rows: build, search (optionally within allowed rows), save, load."""

    name: str

    def build(self, docs: Documents) -> None:
        """Index all documents (rows are positions in ``docs``)."""
        ...

    def search(self, queries: Queries, k: int, allowed_rows: np.ndarray | None = None) -> list[Hits]:
        """The top ``k`` rows for each query, best first.

        ``allowed_rows`` is a bool mask over all rows; it is applied before the top ``k`` are taken, so a
        filtered search still returns ``k`` hits when ``k`` allowed rows match.
        """
        ...

    def save(self, folder: Path) -> None:
        """Write the index into ``folder`` (the backend's own, existing sub-folder of a version)."""
        ...

    @classmethod
    def load(cls, folder: Path, **options: Any) -> Self:
        """Read an index written by ``save``; ``options`` override saved search settings."""
        ...


def check_mask(allowed_rows: np.ndarray | None, rows: int) -> np.ndarray | None:
    """``allowed_rows`` as a bool array of length ``rows`` (ValueError if it does not fit the index)."""
    if allowed_rows is None:
        return None
    mask = np.asarray(allowed_rows, dtype=bool)
    if mask.shape != (rows,):
        raise ValueError(f"allowed_rows has shape {mask.shape}, the index has {rows} rows: pass one flag per row")
    return mask
