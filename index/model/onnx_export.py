"""Export the materialised multilingual-e5-small to ONNX graphs (float32, and dynamic int8) in a child process.

The graphs live in ``<model folder>/onnx/`` next to the sentence-transformers files they come from:
``model.onnx`` (inputs_embeds, attention_mask → last_hidden_state; batch and sequence axes dynamic),
``model-int8.onnx`` (the same, weights quantised by ``onnxruntime.quantization.quantize_dynamic``),
``embeddings.npy`` (the float32 word-embedding matrix, which the encoder memory-maps and indexes itself:
a query touches a few of its 250k rows, so the 384 MB stay on disk instead of in every serving process),
the serving tokenizer (``index.model.lean_tokenizer``) and ``ragqa-onnx.json``, which records each file's
sha256 and the model marker it was exported from, so a rebuilt model re-exports. The folder is written
to a temporary directory and renamed into place.

Exporting needs torch; serving from the graphs must not. So ``ensure_onnx_export`` (what a serving process
calls) runs the export as ``python -m index.model.onnx_export`` in a child process, and this module imports
torch, transformers and onnx only inside the functions that run in that child.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpus.files import file_lock
from index.model.adapter import DEFAULT_ADAPTER, materialise_model, resolve_adapter
from index.model.base import ModelError
from index.model.lean_tokenizer import MODEL_FILE, PIPELINE_FILE, write_lean_tokenizer
from index.model.materialise import DEFAULT_MODEL, MARKER_FILE, building_folder, publish_folder

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_MARKER = "ragqa-onnx.json"
#: Bump when the exported graphs change: exports with another version are redone.
ONNX_FORMAT_VERSION = 3
OPSET = 17
#: Encoder variant → graph file inside ``ONNX_DIR``.
VARIANT_FILES = {"onnx-fp32": "model.onnx", "onnx-int8": "model-int8.onnx"}
#: What every variant reads besides its graph (key → file inside ``ONNX_DIR``).
EMBEDDINGS_FILE = "embeddings.npy"
SHARED_FILES = {"embeddings": EMBEDDINGS_FILE, "tokenizer": MODEL_FILE, "pipeline": PIPELINE_FILE}
EXPORT_TIMEOUT_S = 900.0


def export_command(cache_dir: Path, adapter: str = DEFAULT_ADAPTER) -> str:
    """The shell command that (re-)exports the graphs for the model cache ``cache_dir`` (and ``adapter``)."""
    return f"python -m index.model.onnx_export --cache-dir {cache_dir} --adapter {adapter} --force"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _model_marker(model_folder: Path) -> dict[str, Any]:
    return json.loads((model_folder / MARKER_FILE).read_text(encoding="utf-8"))


def read_onnx_marker(model_folder: Path) -> dict[str, Any] | None:
    """The export marker of ``model_folder``, or None if there is no complete export."""
    try:
        return json.loads((model_folder / ONNX_DIR / ONNX_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_export_current(model_folder: Path) -> bool:
    """Whether ``model_folder`` holds a complete export of its current model (sizes checked, not hashes)."""
    marker = read_onnx_marker(model_folder)
    try:
        model_marker = _model_marker(model_folder)
    except (OSError, ValueError):
        return False
    if not marker or marker.get("format") != ONNX_FORMAT_VERSION or marker.get("model_marker") != model_marker:
        return False
    files = marker.get("files", {})
    shared = marker.get("shared", {})
    if set(shared) != set(SHARED_FILES) or not set(files) <= set(VARIANT_FILES):
        return False
    for entry in (*files.values(), *shared.values()):
        path = model_folder / ONNX_DIR / entry["file"]
        if not path.is_file() or path.stat().st_size != entry["bytes"]:
            return False
    return "onnx-fp32" in files


def has_export(model_folder: Path, int8: bool) -> bool:
    """Whether a current export holds the float32 graph and, if ``int8``, the int8 one."""
    return is_export_current(model_folder) and (not int8 or "onnx-int8" in read_onnx_marker(model_folder)["files"])


def export_fp32(model_folder: Path, target: Path, embeddings: Path | None) -> None:
    """Trace the BERT encoder of ``model_folder`` into ``target`` (from word embeddings on), and save those.

    The graph starts after the word-embedding lookup (BERT adds the position and token-type embeddings to
    ``inputs_embeds`` itself); the lookup table goes to ``embeddings`` as a float32 ``.npy`` (None: the
    caller has it already, e.g. from the served export).
    """
    import numpy as np
    import torch
    from transformers import BertModel

    # Eager attention traces to plain MatMul/Softmax, which onnxruntime fuses into its Attention kernel.
    model = BertModel.from_pretrained(
        str(model_folder), add_pooling_layer=False, attn_implementation="eager", local_files_only=True
    ).eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state

    table = model.get_input_embeddings().weight.detach()
    if embeddings is not None:
        np.save(embeddings, np.ascontiguousarray(table.numpy(), dtype=np.float32))
    # A padded row in the example keeps the tracer on the masked-attention path (an all-ones mask may be
    # dropped by transformers, and the trace would then ignore padding).
    input_ids = torch.tensor([[0, 581, 10869, 2], [0, 581, 2, 1]], dtype=torch.long)
    attention_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    with torch.inference_mode():
        torch.onnx.export(
            LastHiddenState(model),
            (table[input_ids], attention_mask),
            str(target),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"inputs_embeds": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            do_constant_folding=True,
            # The TorchScript exporter needs no onnxscript; torch 2.13 still ships it (deprecated).
            dynamo=False,
        )


def _fuse_transformer(source: Path, target: Path, config_file: Path) -> None:
    """Write ``source`` with onnxruntime's BERT fusions (Attention, SkipLayerNormalization, BiasGelu) as ``target``.

    Same vectors (cosine 0.9999999 to the traced graph) and faster passage batches (bench/RESULTS.md §8, §11);
    if this onnxruntime cannot fuse the graph, the traced graph is kept as it is.
    """
    import shutil

    from onnxruntime.transformers.optimizer import optimize_model

    config = json.loads(config_file.read_text(encoding="utf-8"))
    try:
        # opt_level 0: only the offline fusions; the session applies its own graph optimisations at load.
        # The shape is given: detecting it fails on a graph that starts after the embedding lookup.
        fused = optimize_model(
            str(source),
            model_type="bert",
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            opt_level=0,
        )
        fused.save_model_to_file(str(target))
        logger.info("fused operators: %s", {k: v for k, v in fused.get_fused_operator_statistics().items() if v})
    except Exception as exc:  # the optimizer raises whatever its graph patterns hit; the plain graph still works
        logger.warning("onnxruntime could not fuse the graph (%s): keeping the traced graph", exc)
        shutil.copyfile(source, target)


def _file_entry(path: Path) -> dict[str, Any]:
    """What the marker records of one exported file: name, size and sha256."""
    logger.info("exported %s (%.1f MB)", path.name, path.stat().st_size / 1e6)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def quantise_int8(source: Path, target: Path, exclude: Sequence[str] = ()) -> None:
    """Dynamic int8 quantisation of ``source`` (weights int8 per channel, activations uint8 at run time).

    ``exclude`` names MatMul nodes to leave in float32 (the export excludes none; ``bench/quantisation.py``
    measures what excluding the sensitive ones buys).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per channel: per tensor drops some English questions to cosine 0.982 against float32, per channel
    # keeps every eval question above 0.994 at the same size. The word embeddings are not in the graph: they
    # stay float32 (``embeddings.npy``), so int8 only touches the transformer layers.
    quantize_dynamic(
        str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=list(exclude)
    )


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def export_onnx(model_folder: Path, int8: bool = True, force: bool = False) -> Path:
    """Export ``model_folder``'s graphs into ``model_folder/onnx`` unless current; runs torch in-process."""
    model_folder = Path(model_folder)
    started = time.perf_counter()
    target = model_folder / ONNX_DIR
    with file_lock(model_folder.parent / ".build.lock"):  # the lock materialise_e5_small takes
        if not force and has_export(model_folder, int8):  # another process exported it meanwhile
            return target
        with building_folder(target) as tmp:
            files: dict[str, dict[str, Any]] = {}
            variants = ["onnx-fp32", "onnx-int8"] if int8 else ["onnx-fp32"]
            plain = tmp / "traced.onnx"
            export_fp32(model_folder, plain, tmp / EMBEDDINGS_FILE)
            for variant in variants:
                path = tmp / VARIANT_FILES[variant]
                if variant == "onnx-fp32":
                    _fuse_transformer(plain, path, model_folder / "config.json")
                else:
                    quantise_int8(plain, path)
                files[variant] = _file_entry(path)
            plain.unlink()
            write_lean_tokenizer(model_folder / "tokenizer.json", tmp)
            marker = {
                "format": ONNX_FORMAT_VERSION,
                "opset": OPSET,
                "model_marker": _model_marker(model_folder),
                "versions": _versions(),
                "files": files,
                "shared": {key: _file_entry(tmp / name) for key, name in SHARED_FILES.items()},
            }
            publish_folder(tmp, target, tmp / ONNX_MARKER, marker)
    logger.info("exported the ONNX graphs of %s in %.1f s", model_folder.name, time.perf_counter() - started)
    return target


def ensure_onnx_export(
    cache_dir: Path, int8: bool = True, timeout_s: float = EXPORT_TIMEOUT_S, adapter: str = DEFAULT_ADAPTER
) -> Path:
    """Materialise multilingual-e5-small (with ``adapter`` merged in) and export its graphs once; return its folder.

    The adapted folder has its own marker, so its export is its own and redone when the adapter changes.
    The export runs in a child process so that the caller never imports torch; its failure raises a
    ``ModelError`` carrying the child's last lines (the sentence-transformers encoder is unaffected).
    """
    cache_dir = Path(cache_dir).expanduser()
    model_folder = materialise_model(cache_dir, resolve_adapter(DEFAULT_MODEL, adapter))
    if has_export(model_folder, int8):
        return model_folder
    command = [sys.executable, "-m", "index.model.onnx_export", "--cache-dir", str(cache_dir), "--adapter", adapter]
    if not int8:
        command.append("--no-int8")
    # The child must find this package even when the parent found it through sys.path, not an install.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
    logger.info("exporting %s to ONNX in a child process (once)", model_folder.name)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(
            f"the ONNX export of {model_folder} did not finish in {timeout_s:.0f} s: run "
            f"`{export_command(cache_dir, adapter)}` by hand to see why, or use the torch encoder"
        ) from exc
    if done.returncode != 0 or not has_export(model_folder, int8):
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise ModelError(
            f"the ONNX export of {model_folder} failed (exit {done.returncode}):\n{tail}\n"
            f"run `{export_command(cache_dir, adapter)}` to retry, or use the torch encoder"
        )
    return model_folder


def main(argv: list[str] | None = None) -> int:
    """Command line: export the graphs of the cached multilingual-e5-small (materialising it, adapted, first)."""
    parser = argparse.ArgumentParser(description="Export multilingual-e5-small to ONNX (float32 and int8).")
    parser.add_argument("--cache-dir", type=Path, required=True, help="the model cache (RAGQA_MODEL_CACHE_DIR)")
    parser.add_argument(
        "--adapter", default=DEFAULT_ADAPTER, help="'default' (the shipped adapter), 'none', or an adapter folder"
    )
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 graph")
    parser.add_argument("--force", action="store_true", help="export even if a current export exists")
    args = parser.parse_args(argv)
    # The quantiser logs every tensor at INFO on the root logger: keep the root at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("index").setLevel(logging.INFO)
    try:
        folder = materialise_model(args.cache_dir.expanduser(), resolve_adapter(DEFAULT_MODEL, args.adapter))
        export_onnx(folder, int8=not args.no_int8, force=args.force)
    except ModelError as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
