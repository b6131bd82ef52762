"""The serving tokenizer of the ONNX encoder: the materialised ``tokenizer.json``, with SentencePiece's Unigram.

``tokenizers`` keeps XLM-R's 250k-piece Unigram model in a trie of per-node hash maps: about 280 MB of a
serving process. SentencePiece holds the same pieces and scores in a double-array trie (about 30 MB). So the
ONNX export writes two small files next to the graphs, and a serving process loads those instead of
``tokenizer.json``:

- ``tokenizer.model``: a SentencePiece model with the pieces and scores of ``tokenizer.json``, in its id
  order, with an identity normaliser (no piece holds an inner ``▁``, checked when written, so Viterbi over
  the whole pre-tokenized text equals ``tokenizers``' per-word Viterbi, in one call);
- ``tokenizer-pipeline.json``: ``tokenizer.json``'s own normaliser (the precompiled charsmap and the
  whitespace rule), pre-tokenizer (Metaspace), special tokens and ``<s> … </s>`` ids, run by ``tokenizers``.

The ids are those of ``tokenizer.json`` (checked by the parity tests over the corpus and the questions),
truncated to ``max_length`` with the special tokens counted, as ``enable_truncation`` does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from index.model.base import ModelError

MODEL_FILE = "tokenizer.model"
PIPELINE_FILE = "tokenizer-pipeline.json"
PIPELINE_FORMAT = 1


def write_lean_tokenizer(tokenizer_json: Path, folder: Path) -> list[Path]:
    """Write ``tokenizer.model`` and ``tokenizer-pipeline.json`` for ``tokenizer_json`` into ``folder``."""
    from sentencepiece import sentencepiece_model_pb2 as spm_pb

    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    model = spec["model"]
    if model.get("type") != "Unigram" or model.get("byte_fallback"):
        raise ModelError(f"{tokenizer_json} is not a Unigram tokenizer without byte fallback: serve it with torch")
    specials = {token["content"]: token["id"] for token in spec["added_tokens"] if token.get("special")}
    unk_id = int(model["unk_id"])
    proto = spm_pb.ModelProto()
    proto.trainer_spec.model_type = spm_pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.unk_id = unk_id
    proto.trainer_spec.bos_id = proto.trainer_spec.eos_id = proto.trainer_spec.pad_id = -1  # added here, not by it
    proto.normalizer_spec.name = "identity"  # tokenizers' own normaliser runs first
    proto.normalizer_spec.add_dummy_prefix = False
    proto.normalizer_spec.remove_extra_whitespaces = False
    proto.normalizer_spec.escape_whitespaces = False
    kinds = spm_pb.ModelProto.SentencePiece
    special_ids = set(specials.values())
    spanning = [piece for piece, _score in model["vocab"] if "▁" in piece[1:]]
    if spanning:  # LeanTokenizer encodes the words of a text in one call, which relies on this
        raise ModelError(f"{tokenizer_json} has pieces across words ({spanning[:3]}): serve it with torch")
    for i, (piece, score) in enumerate(model["vocab"]):
        entry = proto.pieces.add()
        entry.piece, entry.score = piece, score
        entry.type = kinds.UNKNOWN if i == unk_id else kinds.CONTROL if i in special_ids else kinds.NORMAL
    bos, eos = _template_ends(spec["post_processor"], specials)
    pipeline = {
        "format": PIPELINE_FORMAT,
        "normalizer": spec["normalizer"],
        "pre_tokenizer": spec["pre_tokenizer"],
        "specials": specials,
        "bos_id": bos,
        "eos_id": eos,
        "pad_id": specials.get("<pad>", unk_id),
    }
    folder = Path(folder)
    (folder / MODEL_FILE).write_bytes(proto.SerializeToString())
    (folder / PIPELINE_FILE).write_text(json.dumps(pipeline, ensure_ascii=False), encoding="utf-8")
    return [folder / MODEL_FILE, folder / PIPELINE_FILE]


def _template_ends(post_processor: dict[str, Any], specials: dict[str, int]) -> tuple[int, int]:
    """The ids a single text is wrapped in by the ``TemplateProcessing`` post-processor (``<s> $A </s>``)."""
    if post_processor.get("type") != "TemplateProcessing":
        raise ModelError(f"unsupported post-processor {post_processor.get('type')!r}: serve this model with torch")
    single = post_processor["single"]
    first, last = single[0].get("SpecialToken"), single[-1].get("SpecialToken")
    if not first or not last or len(single) != 3:
        raise ModelError("the tokenizer's template is not `<s> $A </s>`: serve this model with torch")
    return specials[first["id"]], specials[last["id"]]


class LeanTokenizer:
    """Token ids of ``tokenizer.json`` from its normaliser + pre-tokenizer and a SentencePiece Unigram."""

    def __init__(self, folder: Path, max_length: int) -> None:
        import sentencepiece as spm
        from tokenizers import Tokenizer

        folder = Path(folder)
        try:
            pipeline = json.loads((folder / PIPELINE_FILE).read_text(encoding="utf-8"))
            if pipeline.get("format") != PIPELINE_FORMAT:
                raise ValueError(f"format {pipeline.get('format')!r}, expected {PIPELINE_FORMAT}")
            # A tokenizers document with a one-word model: only its normaliser and pre-tokenizer are used.
            shell = Tokenizer.from_str(
                json.dumps(
                    {
                        "version": "1.0",
                        "truncation": None,
                        "padding": None,
                        "added_tokens": [],
                        "normalizer": pipeline["normalizer"],
                        "pre_tokenizer": pipeline["pre_tokenizer"],
                        "post_processor": None,
                        "decoder": None,
                        "model": {"type": "WordLevel", "vocab": {"<unk>": 0}, "unk_token": "<unk>"},
                    }
                )
            )
            self._unigram = spm.SentencePieceProcessor(model_file=str(folder / MODEL_FILE))
            self.specials: dict[str, int] = {str(k): int(v) for k, v in pipeline["specials"].items()}
            self.bos_id, self.eos_id = int(pipeline["bos_id"]), int(pipeline["eos_id"])
            self.pad_id = int(pipeline["pad_id"])
        except Exception as exc:  # tokenizers and sentencepiece raise untyped errors for unreadable files
            command = "python -m index.model.onnx_export --cache-dir <model cache> --force"
            raise ModelError(
                f"cannot read the serving tokenizer in {folder} ({exc}): export again with `{command}`"
            ) from exc
        self._normalizer = shell.normalizer
        self._pre_tokenizer = shell.pre_tokenizer
        self.max_length = max_length
        # Special tokens written in the text are matched before normalisation, as tokenizers' added tokens are.
        names = sorted(self.specials, key=len, reverse=True)
        self._special = re.compile("(" + "|".join(map(re.escape, names)) + ")") if names else None

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, ``<s> … </s>`` included, truncated to ``max_length``."""
        return [self._encode_one(text) for text in texts]

    @property
    def special_ids(self) -> set[int]:
        """Ids of the special tokens (``<s>``, ``</s>``, padding and the named ones)."""
        return {self.bos_id, self.eos_id, self.pad_id, *self.specials.values()}

    def piece(self, token_id: int) -> str:
        """The subword text of a token id (SentencePiece's "▁" marks a word start)."""
        return str(self._unigram.id_to_piece(int(token_id)))

    def piece_count(self, text: str) -> int:
        """How many pieces ``text`` is cut into (special tokens not counted, no truncation)."""
        return len(self._pieces(text))

    def _encode_one(self, text: str) -> list[int]:
        ids = self._pieces(text)
        return [self.bos_id, *ids[: max(self.max_length - 2, 0)], self.eos_id]

    def _pieces(self, text: str) -> list[int]:
        ids: list[int] = []
        segments = self._special.split(text) if self._special else [text]
        for i, segment in enumerate(segments):
            if i % 2:  # the split's captured separators: a special token's text
                ids.append(self.specials[segment])
            elif segment:
                words = self._pre_tokenizer.pre_tokenize_str(self._normalizer.normalize_str(segment))
                # One call for all words: no piece holds an inner "▁", so a piece never spans two words.
                ids.extend(self._unigram.encode("".join(word for word, _span in words)))
        return ids
