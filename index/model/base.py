"""The interface every embedding model implements, and the error it raises when it cannot load."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


class ModelError(RuntimeError):
    """The embedding model cannot be found, built or loaded (the message says what to do)."""


@runtime_checkable
class Encoder(Protocol):
    """Turns questions and passages into unit-length float32 vectors of one model."""

    name: str  # the model name recorded in index manifests, e.g. "multilingual-e5-small"
    variant: str  # what produced the vectors, e.g. "torch-fp32"

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        ...

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """(n, dimension) float32 unit rows for questions (with the model's query prompt)."""
        ...

    def encode_passages(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """(n, dimension) float32 unit rows for passages (with the model's passage prompt)."""
        ...
