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


def vector_group(variant: str) -> str:
    """Which variants make interchangeable vectors: "fp32" (torch-fp32, onnx-fp32; parity ≥ 0.9999) or "int8".

    Vectors of one group may be mixed in an index; vectors of two groups may not (the key of a reused
    embedding and the index manifest both carry the group).
    """
    return "int8" if variant.endswith("int8") else "fp32"
