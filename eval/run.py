"""Score retrieval configurations on the reference questions: means, bootstrap CIs and paired tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel

from eval.metrics import (
    METRICS,
    abstention_rates,
    bootstrap_ci,
    build_qrels,
    build_run,
    holm,
    paired_p_value,
    per_question_scores,
)
from eval.questions import Question
from eval.retrieval import DEFAULT_CONFIGURATION, retrieve

if TYPE_CHECKING:
    from index.retriever import HybridRetriever

__all__ = ["EXPECTED_PATH", "EvalResult", "Row", "evaluate", "select_split", "write_expected"]

EXPECTED_PATH = Path(__file__).resolve().parent / "expected.json"
DEPTH = 10
RESAMPLES = 2000
PERMUTATIONS = 10_000
MIN_TOLERANCE = 0.02
Split = Literal["dev", "test", "all"]


class Cell(BaseModel):
    """A metric's mean over questions with its 95 % bootstrap interval."""

    mean: float
    low: float
    high: float


class Row(BaseModel):
    """One configuration on one slice of the questions."""

    configuration: str
    group: Literal["lang", "type", "set"]
    slice: str
    n: int
    scores: dict[str, Cell]
    # Holm-adjusted p-value of the paired test against the default; empty for the default itself.
    p_values: dict[str, float] = {}


class QuestionRanks(BaseModel):
    """Rank of the first relevant passage of one question under each configuration (None: not in top 10)."""

    id: str
    lang: str
    type: str
    set: str
    first_relevant: dict[str, int | None]
    scores: dict[str, dict[str, float]]  # configuration → metric → this question's score


class EvalResult(BaseModel):
    """Everything one `ragqa eval` run measured, with what it takes to reproduce it."""

    created_at: str
    command: str
    split: Split
    model: str
    index_version: str
    parameters: dict[str, Any]
    default: str
    configurations: list[str]
    questions: int
    unanswerable: int
    question_ids_sha256: str
    resamples: int
    permutations: int
    rows: list[Row]
    abstention: dict[str, dict[str, float | int]]
    per_question: list[QuestionRanks]

    def row(self, configuration: str, group: str, slice_: str) -> Row | None:
        """The row of one configuration and slice, if that slice has questions."""
        return next(
            (r for r in self.rows if (r.configuration, r.group, r.slice) == (configuration, group, slice_)), None
        )


def select_split(questions: list[Question], split: Split) -> list[Question]:
    """The questions of one split ('all': every question); refuses questions that have no split yet."""
    missing = [q.id for q in questions if q.split is None]
    if missing:
        raise ValueError(
            f"{len(missing)} questions have no split ({', '.join(missing[:5])}…): run python -m eval.split"
        )
    return [q for q in questions if split == "all" or q.split == split]


def question_ids_sha256(questions: list[Question]) -> str:
    """Fingerprint of which answerable questions were scored, so stale expected scores are noticed."""
    ids = sorted(q.id for q in questions if q.answerable)
    return hashlib.sha256("\n".join(ids).encode("utf-8")).hexdigest()


def _slices(questions: list[Question]) -> list[tuple[Literal["lang", "type", "set"], str, np.ndarray]]:
    """(group, name, boolean mask over the answerable questions) for every non-empty slice."""
    langs = np.array([q.lang for q in questions])
    types = np.array([q.type for q in questions])
    sets = np.array([q.set for q in questions])
    slices: list[tuple[Literal["lang", "type", "set"], str, np.ndarray]] = [
        ("lang", "all", np.ones(len(questions), dtype=bool))
    ]
    slices += [("lang", lang, langs == lang) for lang in ("ja", "en")]
    slices += [("type", name, types == name) for name in dict.fromkeys(sorted(types))]
    slices += [("set", name, sets == name) for name in ("seed", "hard")]
    return [(group, name, mask) for group, name, mask in slices if mask.any()]


def _first_relevant(ranking: list[str], relevant: set[str]) -> int | None:
    return next((rank for rank, pid in enumerate(ranking, start=1) if pid in relevant), None)


def evaluate(
    retriever: HybridRetriever,
    questions: list[Question],
    configurations: list[str],
    split: Split = "dev",
    default: str = DEFAULT_CONFIGURATION,
    command: str = "",
) -> EvalResult:
    """Score every configuration on the split's answerable questions; unanswerable ones feed abstention only."""
    chosen = select_split(questions, split)
    if not chosen:
        raise ValueError(f"no questions in split {split!r}")
    configurations = [default, *[c for c in configurations if c != default]]
    retrieved = retrieve(retriever, [q.question for q in chosen], configurations, DEPTH)

    answerable = [q for q in chosen if q.answerable]
    positions = [i for i, q in enumerate(chosen) if q.answerable]
    ids = [q.id for q in answerable]
    qrels = build_qrels(answerable, retrieved.passages)
    relevant = {qid: set(docs) for qid, docs in qrels.to_dict().items()}
    scores: dict[str, dict[str, np.ndarray]] = {}
    for configuration in configurations:
        rankings = {ids[j]: retrieved.rankings[configuration][i].passage_ids for j, i in enumerate(positions)}
        scores[configuration] = per_question_scores(qrels, build_run(rankings, configuration), ids)

    rows: list[Row] = []
    for group, name, mask in _slices(answerable):
        raw = {
            c: {m: paired_p_value(scores[default][m][mask], scores[c][m][mask], PERMUTATIONS) for m in METRICS}
            for c in configurations[1:]
        }
        # Holm over the configurations compared with the default, separately for each metric and slice.
        adjusted: dict[str, dict[str, float]] = {c: {} for c in configurations[1:]}
        for metric in METRICS:
            for c, p in zip(configurations[1:], holm([raw[c][metric] for c in configurations[1:]])):
                adjusted[c][metric] = p
        for configuration in configurations:
            cells = {}
            for metric in METRICS:
                values = scores[configuration][metric][mask]
                low, high = bootstrap_ci(values, RESAMPLES)
                cells[metric] = Cell(mean=float(values.mean()), low=low, high=high)
            rows.append(
                Row(
                    configuration=configuration,
                    group=group,
                    slice=name,
                    n=int(mask.sum()),
                    scores=cells,
                    p_values=adjusted.get(configuration, {}),
                )
            )

    abstention = {}
    for configuration in configurations:
        flags = [r.abstained for r in retrieved.rankings[configuration]]
        if all(flag is not None for flag in flags):  # only once results say whether they abstained
            abstention[configuration] = abstention_rates([bool(f) for f in flags], [q.answerable for q in chosen])

    per_question = [
        QuestionRanks(
            id=q.id,
            lang=q.lang,
            type=q.type,
            set=q.set,
            first_relevant={
                c: _first_relevant(retrieved.rankings[c][i].passage_ids, relevant[q.id]) for c in configurations
            },
            scores={c: {m: float(scores[c][m][j]) for m in METRICS} for c in configurations},
        )
        for j, (q, i) in enumerate(zip(answerable, positions))
    ]
    return EvalResult(
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        command=command,
        split=split,
        model=retrieved.model,
        index_version=retrieved.index_version,
        parameters=retrieved.parameters,
        default=default,
        configurations=configurations,
        questions=len(answerable),
        unanswerable=len(chosen) - len(answerable),
        question_ids_sha256=question_ids_sha256(chosen),
        resamples=RESAMPLES,
        permutations=PERMUTATIONS,
        rows=rows,
        abstention=abstention,
        per_question=per_question,
    )


def write_expected(result: EvalResult, path: Path = EXPECTED_PATH) -> Path:
    """Record the default configuration's scores per language as the ones tests/eval must reproduce."""
    if result.split != "test":
        raise ValueError(f"expected scores are test-split scores, this run scored {result.split!r}: use --split test")
    scores = {}
    for lang in ("all", "ja", "en"):
        row = result.row(result.default, "lang", lang)
        if row is not None:
            scores[lang] = {"n": row.n, **{m: c.model_dump() for m, c in row.scores.items()}}
    expected = {
        "command": "ragqa index && ragqa eval --split test --save-expected",
        "created_at": result.created_at,
        "model": result.model,
        "index_version": result.index_version,
        "parameters": result.parameters,
        "configuration": result.default,
        "split": result.split,
        "questions": result.questions,
        "unanswerable": result.unanswerable,
        "question_ids_sha256": result.question_ids_sha256,
        "depth": DEPTH,
        "ci": f"95 % percentile bootstrap over questions, {result.resamples} resamples, seed 0",
        "tolerance": (
            f"tests/eval/test_expected.py fails when a score drops below its mean by more than "
            f"max(CI half-width, {MIN_TOLERANCE})"
        ),
        "scores": scores,
    }
    path.write_text(json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path


def tolerance(cell: dict[str, float]) -> float:
    """How far a score may fall below its expected mean: the larger of the CI half-width and 0.02."""
    half_width = (cell["high"] - cell["low"]) / 2
    return max(half_width if math.isfinite(half_width) else 0.0, MIN_TOLERANCE)
