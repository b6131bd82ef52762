"""The shipped LoRA adapter, applied at serving time with numpy only: merge it into the base model's weights.

The adapter (``index/model/adapter/``: peft's ``adapter_config.json`` and ``adapter_model.safetensors``, and
``ragqa-adapter.json``, the record of how it was trained) was trained by ``python -m index.model.finetune``.
Merging gives an ordinary sentence-transformers folder, ``<cache>/multilingual-e5-small+ragqa-<fingerprint>``,
that the torch encoder and the ONNX export read alike; its marker records the base model's marker and the
adapter's sha256, so a changed adapter or base builds a new folder (and with it a new ONNX export).
``adapted_name`` is the encoder name recorded in index manifests: an index built with another model (or
adapter) is re-embedded. Nothing here imports torch or peft.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from corpus.files import file_lock
from index.model.base import ModelError
from index.model.materialise import (
    DEFAULT_MODEL,
    MARKER_FILE,
    building_folder,
    is_built,
    materialise_e5_small,
    publish_folder,
)

logger = logging.getLogger(__name__)

#: The adapter shipped with the repository (for ``DEFAULT_MODEL``).
ADAPTER_DIR = Path(__file__).resolve().parent / "adapter"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_RECORD = "ragqa-adapter.json"
#: ``RAGQA_ADAPTER`` values: "default" (the shipped adapter), "none", or a folder holding another adapter.
DEFAULT_ADAPTER = "default"
NO_ADAPTER = "none"
#: Bump when the adapted folder's content changes: folders with another version are rebuilt.
ADAPTED_FORMAT_VERSION = 1
RETRAIN = "retrain it with `python -m index.model.finetune --out index/model/adapter/` or set RAGQA_ADAPTER=none"


def resolve_adapter(model: str, adapter: str) -> Path | None:
    """The adapter folder to apply to ``model`` for the setting ``adapter`` (None: serve the model as is)."""
    setting = adapter.strip()
    if setting.lower() == NO_ADAPTER:
        return None
    if setting.lower() in ("", DEFAULT_ADAPTER):
        return ADAPTER_DIR if model.strip() == DEFAULT_MODEL else None
    if model.strip() != DEFAULT_MODEL:
        raise ModelError(
            f"RAGQA_ADAPTER={adapter!r} applies only to the bundled {DEFAULT_MODEL!r} (RAGQA_MODEL is {model!r}): "
            "unset RAGQA_ADAPTER or set it to 'none'"
        )
    folder = Path(setting).expanduser()
    if not (folder / ADAPTER_WEIGHTS).is_file():
        raise ModelError(
            f"RAGQA_ADAPTER={adapter!r} holds no {ADAPTER_WEIGHTS}: name a folder written by "
            "`python -m index.model.finetune --out FOLDER`, 'default' or 'none'"
        )
    return folder.resolve()


def adapter_fingerprint(adapter_dir: Path) -> str:
    """sha256 of the adapter's config and weights: a changed adapter builds a new adapted folder."""
    digest = hashlib.sha256()
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        path = adapter_dir / name
        try:
            digest.update(path.read_bytes())
        except OSError as exc:
            raise ModelError(f"cannot read the adapter file {path} ({exc}): {RETRAIN}") from exc
    return digest.hexdigest()


def adapted_name(fingerprint: str) -> str:
    """The encoder name of the default model with the adapter of this fingerprint (recorded in manifests)."""
    return f"{DEFAULT_MODEL}+ragqa-{fingerprint[:8]}"


def read_adapter(adapter_dir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The adapter's peft config and LoRA tensors (ModelError naming the file if either is unreadable)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    config_path, weights_path = adapter_dir / ADAPTER_CONFIG, adapter_dir / ADAPTER_WEIGHTS
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"the adapter config {config_path} is unreadable ({exc}): {RETRAIN}") from exc
    try:
        tensors = load_file(str(weights_path))
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelError(f"the adapter weights {weights_path} are unreadable ({exc}): {RETRAIN}") from exc
    unsupported = ("use_dora", "use_rslora", "rank_pattern", "alpha_pattern", "modules_to_save", "lora_bias")
    if not isinstance(config, dict) or config.get("peft_type") != "LORA" or any(config.get(k) for k in unsupported):
        raise ModelError(f"{config_path} is not a plain LoRA adapter (no DoRA, rsLoRA or patterns): {RETRAIN}")
    return config, tensors


def merged_weights(base: dict[str, np.ndarray], adapter_dir: Path) -> dict[str, np.ndarray]:
    """The base model's weights with the LoRA adapter merged in: W + (alpha / r) · B A for every target."""
    config, lora = read_adapter(adapter_dir)
    weights_path = adapter_dir / ADAPTER_WEIGHTS
    scaling = float(config["lora_alpha"]) / float(config["r"])
    merged = dict(base)
    applied = 0
    for key, a in lora.items():
        if not key.endswith(".lora_A.weight"):
            continue
        module = key.removesuffix(".lora_A.weight").removeprefix("base_model.model.")
        b = lora.get(key.replace(".lora_A.", ".lora_B."))
        target = f"{module}.weight"
        if b is None or target not in merged:
            raise ModelError(
                f"{weights_path} changes {target!r}, which it lacks a factor for or the base model lacks: "
                f"it belongs to another model; {RETRAIN}"
            )
        weight = merged[target]
        if weight.shape != (b.shape[0], a.shape[1]):
            raise ModelError(
                f"{weights_path}: {module} has shape {(b.shape[0], a.shape[1])}, the model's {weight.shape}: {RETRAIN}"
            )
        update = b.astype(np.float32) @ a.astype(np.float32)
        merged[target] = (weight.astype(np.float32) + np.float32(scaling) * update).astype(weight.dtype)
        applied += 1
    if not applied:
        raise ModelError(f"{weights_path} holds no LoRA weights: {RETRAIN}")
    return merged


def _adapted_marker(base_folder: Path, adapter_dir: Path, fingerprint: str) -> dict[str, Any]:
    return {
        "format": ADAPTED_FORMAT_VERSION,
        "model": adapted_name(fingerprint),
        "base_marker": json.loads((base_folder / MARKER_FILE).read_text(encoding="utf-8")),
        # The setting, not the path: checkouts sharing one cache must agree on the shipped adapter's folder.
        "adapter": DEFAULT_ADAPTER if adapter_dir.resolve() == ADAPTER_DIR else str(adapter_dir.resolve()),
        "adapter_sha256": fingerprint,
    }


def build_adapted(base_folder: Path, adapter_dir: Path, folder: Path) -> None:
    """Write into the empty ``folder`` the sentence-transformers folder ``base_folder`` with the adapter merged."""
    from safetensors.numpy import load_file, save_file

    for item in base_folder.iterdir():
        # The base's marker and ONNX export describe the base weights, not these.
        if item.name in ("model.safetensors", MARKER_FILE, "onnx") or item.name.startswith("."):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, folder / item.name)
    base = load_file(str(base_folder / "model.safetensors"))
    save_file(merged_weights(base, adapter_dir), str(folder / "model.safetensors"), metadata={"format": "pt"})
    record = adapter_dir / ADAPTER_RECORD
    if record.is_file():
        shutil.copy2(record, folder / ADAPTER_RECORD)


def materialise_adapted(cache_dir: Path, adapter_dir: Path) -> Path:
    """Build (once) and return ``<cache_dir>/multilingual-e5-small+ragqa-<fingerprint>`` (base + adapter merged).

    Written to a temporary folder and renamed into place under the cache's build lock, so a crash never
    leaves a broken folder; rebuilt when its marker (base marker, adapter sha256) no longer matches.
    """
    cache_dir = Path(cache_dir).expanduser()
    base_folder = materialise_e5_small(cache_dir)
    fingerprint = adapter_fingerprint(adapter_dir)
    name = adapted_name(fingerprint)
    target = cache_dir / name
    expected = _adapted_marker(base_folder, adapter_dir, fingerprint)
    if is_built(target, expected):
        return target
    try:
        with file_lock(cache_dir / ".build.lock"):  # one build at a time, across processes
            if is_built(target, expected):  # another process built it meanwhile
                return target
            started = time.perf_counter()
            with building_folder(target) as tmp:
                build_adapted(base_folder, adapter_dir, tmp)
                publish_folder(tmp, target, tmp / MARKER_FILE, expected)
            logger.info("merged the adapter %s into %s in %.1f s", adapter_dir, target, time.perf_counter() - started)
    except OSError as exc:
        raise ModelError(
            f"cannot write the adapted model in {cache_dir} ({exc}): free some disk space or set "
            "RAGQA_MODEL_CACHE_DIR to a writable folder"
        ) from exc
    return target


def materialise_model(cache_dir: Path, adapter_dir: Path | None) -> Path:
    """The default model's folder in ``cache_dir``: with ``adapter_dir`` merged in, or the base if None."""
    if adapter_dir is None:
        return materialise_e5_small(cache_dir)
    return materialise_adapted(cache_dir, adapter_dir)
