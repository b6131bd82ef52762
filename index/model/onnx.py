"""The ONNX Runtime encoder: multilingual-e5-small's exported graph without torch or sentence-transformers.

Tokenizes with the export's lean tokenizer (``tokenizer.json``'s ids from SentencePiece, truncation at 512),
looks the word embeddings up in the memory-mapped ``embeddings.npy``, runs the graph written by
``index.model.onnx_export`` (float32 or dynamic int8), mean-pools the last hidden state over the attention
mask and normalises, with e5's ``query: `` / ``passage: `` prompts — what the sentence-transformers folder
does, checked by the parity tests. Passages are encoded in batches of similar length, because padding a
batch to its longest text is most of the cost of an unsorted batch.

Memory: only the embedding rows of tokens seen are read from disk (clean page-cache pages the kernel can
drop), and the tokenizer holds SentencePiece's compact trie instead of ``tokenizers``' 280 MB one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from index.model.adapter import NO_ADAPTER
from index.model.base import ModelError, TextKind, TokenEncoding, text_tokens
from index.model.lean_tokenizer import LeanTokenizer
from index.model.materialise import MARKER_FILE, MAX_SEQ_LENGTH, PASSAGE_PROMPT, QUERY_PROMPT
from index.model.onnx_export import (
    EMBEDDINGS_FILE,
    ONNX_DIR,
    SHARED_FILES,
    VARIANT_FILES,
    export_command,
    file_sha256,
    read_onnx_marker,
)

logger = logging.getLogger(__name__)

#: Texts tokenized and length-sorted together; bounds the token ids held at once for a large corpus.
SORT_WINDOW = 4096


class OnnxEncoder:
    """Encoder over an ONNX Runtime session: unit-length float32 vectors with e5's prompts."""

    def __init__(
        self,
        name: str,
        variant: str,
        session: object,
        tokenizer: LeanTokenizer,
        embeddings: np.ndarray,
        sort_by_length: bool = True,
    ) -> None:
        self.name = name
        self.variant = variant
        self.session = session
        self.tokenizer = tokenizer
        self.embeddings = embeddings  # (vocabulary, dimension) float32, memory-mapped
        self._dimension = int(embeddings.shape[1])
        self.pad_id = tokenizer.pad_id
        self.sort_by_length = sort_by_length
        self.problems: list[str] = []

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        return self._dimension

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors (n, dimension) of questions, with the ``query: `` prompt."""
        return self._encode([QUERY_PROMPT + t for t in texts], batch_size=32, show_progress=False)

    def encode_passages(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors (n, dimension) of passages, with the ``passage: `` prompt."""
        return self._encode([PASSAGE_PROMPT + t for t in texts], batch_size, show_progress)

    def encode_tokens(
        self, texts: list[str], kind: TextKind, batch_size: int = 32, show_progress: bool = False
    ) -> TokenEncoding:
        """Pooled vectors and each text's token vectors (prompt and ``<s>``/``</s>`` left out), in one pass."""
        prompt = QUERY_PROMPT if kind == "query" else PASSAGE_PROMPT
        skip = self.tokenizer.piece_count(prompt.strip())
        special = self.tokenizer.special_ids
        tokens: list[np.ndarray] = [np.zeros((0, self._dimension), np.float32)] * len(texts)
        pieces: list[list[str]] = [[] for _ in texts]

        def keep(i: int, ids: list[int], hidden: np.ndarray) -> None:
            tokens[i], pieces[i] = text_tokens(ids, hidden, special, skip, self.tokenizer.piece)

        vectors = self._encode([prompt + t for t in texts], batch_size, show_progress, keep)
        return TokenEncoding(vectors, tokens, pieces)

    def _encode(
        self,
        texts: list[str],
        batch_size: int,
        show_progress: bool,
        keep: Callable[[int, list[int], np.ndarray], None] | None = None,
    ) -> np.ndarray:
        """Pooled vectors of ``texts``; ``keep``, if given, gets each text's index, ids and hidden states."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        progress = None
        if show_progress:
            from tqdm import tqdm

            progress = tqdm(total=len(texts), desc="embedding", unit="text")
        for start in range(0, len(texts), SORT_WINDOW):
            window = texts[start : start + SORT_WINDOW]
            ids = self.tokenizer.encode(window)
            order = sorted(range(len(ids)), key=lambda i: len(ids[i])) if self.sort_by_length else range(len(ids))
            order = np.asarray(order, dtype=np.int64)
            for first in range(0, len(order), batch_size):
                rows = order[first : first + batch_size]
                batch = [ids[i] for i in rows]
                pooled, hidden = self._forward(batch)
                out[start + rows] = pooled
                if keep is not None:
                    for j, i in enumerate(rows):
                        keep(start + int(i), batch[j], hidden[j, : len(batch[j])])
                if progress is not None:
                    progress.update(len(rows))
        if progress is not None:
            progress.close()
        return out

    def _forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Pad one batch to its longest text, run the graph; the mean-pooled unit vectors and the hidden states."""
        width = max(len(ids) for ids in batch)
        input_ids = np.full((len(batch), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, ids in enumerate(batch):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        inputs = {"inputs_embeds": np.take(self.embeddings, input_ids, axis=0), "attention_mask": mask}
        (hidden,) = self.session.run(["last_hidden_state"], inputs)
        weights = mask.astype(np.float32)
        pooled = np.einsum("bsd,bs->bd", hidden, weights) / np.maximum(weights.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12), hidden  # as torch's F.normalize

    def __repr__(self) -> str:
        return f"OnnxEncoder(name={self.name!r}, variant={self.variant!r}, dimension={self._dimension})"


def _export_command(model_folder: Path) -> str:
    """The command that re-exports ``model_folder``: its marker names the adapter merged into it, if any."""
    try:
        adapter = json.loads((model_folder / MARKER_FILE).read_text(encoding="utf-8")).get("adapter", NO_ADAPTER)
    except (OSError, ValueError):
        adapter = NO_ADAPTER
    return export_command(model_folder.parent, adapter)


def verify_graph(model_folder: Path, variant: str) -> Path:
    """The graph file of ``variant`` in ``model_folder``, after checking it and the files every variant reads
    (embeddings, tokenizer) against the export's sha256."""
    if variant not in VARIANT_FILES:
        raise ModelError(f"unknown ONNX encoder variant {variant!r}: use one of {', '.join(VARIANT_FILES)}")
    marker = read_onnx_marker(model_folder) or {}
    entry = marker.get("files", {}).get(variant)
    shared = marker.get("shared", {})
    if entry is None or set(shared) != set(SHARED_FILES):
        raise ModelError(
            f"{model_folder / ONNX_DIR} holds no complete {variant} export: run `{_export_command(model_folder)}`"
        )
    for other in shared.values():
        _verify_file(model_folder, other)
    return _verify_file(model_folder, entry)


def _verify_file(model_folder: Path, entry: dict) -> Path:
    """The exported file ``entry`` names, if its size and sha256 are those recorded at export."""
    path = model_folder / ONNX_DIR / entry["file"]
    if not path.is_file():
        raise ModelError(f"the exported file {path} is missing: run `{_export_command(model_folder)}`")
    if path.stat().st_size != entry["bytes"] or file_sha256(path) != entry["sha256"]:
        raise ModelError(
            f"the exported file {path} is corrupted (its sha256 differs from the one recorded at export): "
            f"run `{_export_command(model_folder)}` to export it again"
        )
    return path


def session_options(threads: int, memory_arena: bool) -> object:
    """The serving session's options: all graph optimisations, ``threads`` intra-op threads (0: every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads if threads > 0 else (os.cpu_count() or 1)
    options.inter_op_num_threads = 1  # one graph, run sequentially: parallelism is inside each operator
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Without the arena, buffers sized for the longest batch seen are given back instead of kept.
    options.enable_cpu_mem_arena = memory_arena
    # Weights are allocated once at their size instead of through the arena's rounded-up chunks.
    options.add_session_config_entry("session.use_device_allocator_for_initializers", "1")
    options.log_severity_level = 3  # warnings about unused initialisers are noise for users
    return options


def load_onnx_encoder(
    model_folder: Path, variant: str = "onnx-fp32", threads: int = 0, memory_arena: bool = False
) -> OnnxEncoder:
    """Load the exported graph ``variant`` of the materialised model in ``model_folder`` (checksum verified)."""
    import onnxruntime as ort

    model_folder = Path(model_folder)
    started = time.perf_counter()
    path = verify_graph(model_folder, variant)
    try:
        name = json.loads((model_folder / MARKER_FILE).read_text(encoding="utf-8")).get("model", model_folder.name)
        embeddings = np.load(model_folder / ONNX_DIR / EMBEDDINGS_FILE, mmap_mode="r")
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the model folder {model_folder} ({exc}): delete it to rebuild it") from exc
    tokenizer = LeanTokenizer(model_folder / ONNX_DIR, max_length=MAX_SEQ_LENGTH)
    try:
        session = ort.InferenceSession(
            str(path), session_options(threads, memory_arena), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ModelError(f"onnxruntime cannot load {path} ({exc}): run `{_export_command(model_folder)}`") from exc
    encoder = OnnxEncoder(name, variant, session, tokenizer, embeddings)
    logger.info("loaded %s %s (dim %d) in %.1f s", name, variant, encoder.dimension, time.perf_counter() - started)
    return encoder
