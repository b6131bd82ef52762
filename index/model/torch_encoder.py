"""The reference encoder: a sentence-transformers model on the CPU, in float32.

``load_sentence_transformer_encoder`` loads the default model from the folder ``materialise.py`` builds, or
any other sentence-transformers model (a local folder, or a hub name already in the local Hugging Face
cache); nothing here reaches the network (``index.model.load_encoder`` switches the hub offline first).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from index.model.adapter import materialise_model
from index.model.base import ModelError, TextKind, TokenEncoding, text_tokens
from index.model.materialise import (
    DEFAULT_MODEL,
    MARKER_FILE,
    MAX_SEQ_LENGTH,
    PASSAGE_PROMPT,
    QUERY_PROMPT,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


class SentenceTransformerEncoder:
    """The reference encoder: sentence-transformers on the CPU (float32), with the model's query/passage prompts."""

    variant = "torch-fp32"

    def __init__(self, name: str, model: SentenceTransformer) -> None:
        self.name = name
        self.model = model
        self.problems: list[str] = []  # why this encoder serves instead of the configured one, if it does
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelError(f"model {name!r} does not report its embedding dimension")
        self._dimension = int(dim)

    @property
    def dimension(self) -> int:
        """Length of every vector."""
        return self._dimension

    @property
    def query_prompt(self) -> str:
        """The prefix put before queries (the model's ``query`` prompt)."""
        return (getattr(self.model, "prompts", None) or {}).get("query", "")

    @property
    def passage_prompt(self) -> str:
        """The prefix put before passages (the model's ``passage`` prompt)."""
        return (getattr(self.model, "prompts", None) or {}).get("passage", "")

    def _encode(self, texts: list[str], prompt: str, batch_size: int, show_progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._st_encode(texts, prompt, batch_size, show_progress, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _st_encode(self, texts: list[str], prompt: str, batch_size: int, show_progress: bool, **output: Any) -> Any:
        """sentence-transformers' ``encode`` with the prompt; ``output`` chooses what it returns."""
        return self.model.encode(
            list(texts), prompt=prompt, batch_size=batch_size, show_progress_bar=show_progress, **output
        )

    def encode_queries(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors (n, dimension) of questions, with the ``query: `` prompt."""
        if 0 < len(texts) <= batch_size:
            return self._encode_direct(texts, self.query_prompt)
        return self._encode(texts, self.query_prompt, batch_size, False)

    def _encode_direct(self, texts: list[str], prompt: str) -> np.ndarray:
        """One forward pass for a small batch, without ``encode``'s per-call bookkeeping.

        Same vectors as ``SentenceTransformer.encode`` (tests compare them); about 10 % faster for one
        short question, which is most of what a query costs.
        """
        import torch

        model = self.model
        preprocess = getattr(model, "preprocess", None) or model.tokenize
        with torch.inference_mode():
            features = preprocess([prompt + t for t in texts])
            vectors = model.forward(features)["sentence_embedding"]
            vectors = torch.nn.functional.normalize(vectors.float(), dim=-1)
        return np.ascontiguousarray(vectors.numpy(), dtype=np.float32)

    def encode_passages(self, texts: list[str], batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors (n, dimension) of passages, with the ``passage: `` prompt."""
        return self._encode(texts, self.passage_prompt, batch_size, show_progress)

    def encode_tokens(
        self, texts: list[str], kind: TextKind, batch_size: int = 32, show_progress: bool = False
    ) -> TokenEncoding:
        """Pooled vectors and each text's token vectors (prompt and special tokens left out), in one pass.

        sentence-transformers' ``encode`` with every output (``output_value=None``): its length-sorted batches,
        its progress bar; each text's outputs are cut to its attention mask here.
        """
        import torch

        prompt = self.query_prompt if kind == "query" else self.passage_prompt
        tokenizer = self.model.tokenizer
        skip = len(tokenizer(prompt.strip(), add_special_tokens=False)["input_ids"]) if prompt.strip() else 0
        special = set(tokenizer.all_special_ids)
        outputs = self._st_encode(texts, prompt, batch_size, show_progress, output_value=None, convert_to_numpy=False)
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        tokens: list[np.ndarray] = []
        pieces: list[list[str]] = []
        for i, output in enumerate(outputs):
            mask = output["attention_mask"].bool()
            vectors[i] = torch.nn.functional.normalize(output["sentence_embedding"].float(), dim=-1).numpy()
            ids = output["input_ids"][mask].tolist()
            hidden = output["token_embeddings"][mask].float().numpy()
            text_vectors, text_pieces = text_tokens(ids, hidden, special, skip, tokenizer.convert_ids_to_tokens)
            tokens.append(text_vectors)
            pieces.append(text_pieces)
        return TokenEncoding(vectors, tokens, pieces)

    def __repr__(self) -> str:
        return f"SentenceTransformerEncoder(name={self.name!r}, dimension={self.dimension})"


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or name.count("/") > 1 or "\\" in name


def _load_sentence_transformer(location: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(location, device="cpu", local_files_only=True)


def _load_e5_small(cache_dir: Path, adapter_dir: Path | None) -> tuple[str, SentenceTransformer]:
    """The default model's folder name (the encoder name: it names the adapter) and the loaded model."""
    folder = materialise_model(cache_dir, adapter_dir)
    try:
        return folder.name, _load_sentence_transformer(str(folder))
    except Exception as exc:  # a damaged cache: rebuild once
        logger.warning("the cached %s in %s does not load (%s); rebuilding it", DEFAULT_MODEL, folder, exc)
        (folder / MARKER_FILE).unlink(missing_ok=True)
        folder = materialise_model(cache_dir, adapter_dir)
        try:
            return folder.name, _load_sentence_transformer(str(folder))
        except Exception as exc2:
            raise ModelError(f"cannot load the materialised {DEFAULT_MODEL} from {folder}: {exc2}") from exc2


def _load_other(name: str) -> SentenceTransformer:
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"RAGQA_MODEL={name!r} is a file, not a sentence-transformers model folder")
        try:
            return _load_sentence_transformer(str(path))
        except Exception as exc:
            raise ModelError(
                f"cannot load the model folder {str(path)!r} ({type(exc).__name__}: {exc}): "
                "it must be a sentence-transformers or Hugging Face transformers model folder"
            ) from exc
    if _looks_like_path(name):
        raise ModelError(
            f"model folder {name!r} does not exist: set RAGQA_MODEL to an existing folder, to a hub name "
            f"in the local Hugging Face cache, or to {DEFAULT_MODEL!r} (the default, built offline)"
        )
    try:
        return _load_sentence_transformer(name)
    except Exception as exc:
        raise ModelError(
            f"model {name!r} is not in the local Hugging Face cache and the hub is unreachable "
            f"({type(exc).__name__}): download it on a machine with internet (e.g. "
            f"`SentenceTransformer({name!r})`) and copy the cache, or set RAGQA_MODEL to a local folder, "
            f"or use the default {DEFAULT_MODEL!r}"
        ) from exc


def load_sentence_transformer_encoder(
    model: str, cache_dir: Path, adapter_dir: Path | None = None
) -> SentenceTransformerEncoder:
    """``model`` on the CPU: the default built offline into ``cache_dir`` (with ``adapter_dir`` merged in, if
    given), else a local folder or cached hub name."""
    name = model.strip()
    if not name:
        raise ModelError(f"RAGQA_MODEL is empty: leave it unset for {DEFAULT_MODEL!r} or name a model")
    started = time.perf_counter()
    if name == DEFAULT_MODEL:
        name, st_model = _load_e5_small(cache_dir, adapter_dir)
    else:
        st_model = _load_other(name)
    st_model.eval()
    if st_model.max_seq_length is None or st_model.max_seq_length > MAX_SEQ_LENGTH:
        st_model.max_seq_length = MAX_SEQ_LENGTH
    prompts = dict(getattr(st_model, "prompts", None) or {})
    if "e5" in name.lower() and not {"query", "passage"} <= prompts.keys():
        prompts.setdefault("query", QUERY_PROMPT)  # e5 models need their prefixes
        prompts.setdefault("passage", PASSAGE_PROMPT)
        st_model.prompts = prompts
    encoder = SentenceTransformerEncoder(name, st_model)
    logger.info("loaded embedding model %s (dim %d) in %.1f s", name, encoder.dimension, time.perf_counter() - started)
    return encoder
