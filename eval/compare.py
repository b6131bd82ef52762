"""Paired comparison of two `ragqa eval` runs (e.g. the same index built by two encoders, or before/after).

    python -m eval.compare eval/report-fp32/results.json eval/report-int8/results.json [--configuration hybrid]
    python -m eval.compare BEFORE/results.json AFTER/results.json --configuration hybrid --against ranked --by lang

Both runs must have scored the same questions; the per-question scores of ``results.json`` are compared
with the paired randomization test ``ragqa eval`` uses between configurations. ``--configuration`` names
the control run's configuration, ``--against`` the treatment's (default: the same); ``--by lang`` or
``--by type`` adds one table per language or question type, with 95 % bootstrap intervals.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eval.metrics import METRICS, bootstrap_ci, paired_p_value
from eval.run import PERMUTATIONS, RESAMPLES


def per_question(path: Path, configuration: str) -> dict[str, dict[str, float]]:
    """Question id → metric → score of ``configuration`` in the ``results.json`` at ``path``."""
    result = json.loads(path.read_text(encoding="utf-8"))
    if configuration not in result["configurations"]:
        raise ValueError(f"{path} has no {configuration!r} run: it has {', '.join(result['configurations'])}")
    return {q["id"]: q["scores"][configuration] for q in result["per_question"]}


def question_groups(path: Path, by: str) -> dict[str, list[str]]:
    """Group value (a language, a type) → ids of the questions in ``path`` that have it."""
    groups: dict[str, list[str]] = {}
    for q in json.loads(path.read_text(encoding="utf-8"))["per_question"]:
        groups.setdefault(str(q[by]), []).append(q["id"])
    return groups


Row = tuple[str, float, tuple[float, float], float, tuple[float, float], float]


def compare(
    control: Path, treatment: Path, configuration: str, against: str | None = None, ids: list[str] | None = None
) -> list[Row]:
    """Per metric: (metric, control mean, its 95 % CI, treatment mean, its CI, two-sided paired p-value)."""
    a, b = per_question(control, configuration), per_question(treatment, against or configuration)
    if a.keys() != b.keys():
        raise ValueError(f"{control} and {treatment} scored different questions: run both on the same --split")
    chosen = sorted(a if ids is None else ids)
    rows = []
    for metric in METRICS:
        x = np.array([a[i][metric] for i in chosen])
        y = np.array([b[i][metric] for i in chosen])
        p = paired_p_value(x, y, PERMUTATIONS)
        x_ci, y_ci = bootstrap_ci(x, RESAMPLES), bootstrap_ci(y, RESAMPLES)
        rows.append((metric, float(x.mean()), x_ci, float(y.mean()), y_ci, p))
    return rows


def _table(title: str, rows: list[Row], control: str, treatment: str) -> list[str]:
    lines = [f"\n{title}\n", f"| metric | {control} | {treatment} | paired p |", "|---|---:|---:|---:|"]
    for metric, x, (xl, xh), y, (yl, yh), p in rows:
        lines.append(f"| {metric} | {x:.3f} [{xl:.2f}, {xh:.2f}] | {y:.3f} [{yl:.2f}, {yh:.2f}] | {p:.3f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the paired comparison of two runs as Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("control", type=Path, help="results.json of the reference run")
    parser.add_argument("treatment", type=Path, help="results.json of the run compared with it")
    parser.add_argument("--configuration", default="hybrid", help="the control run's configuration")
    parser.add_argument("--against", default=None, help="the treatment run's configuration (default: the same)")
    parser.add_argument("--by", choices=["lang", "type", "set"], default=None, help="also one table per group")
    args = parser.parse_args(argv)
    against = args.against or args.configuration
    names = (f"{args.control.parent.name} {args.configuration}", f"{args.treatment.parent.name} {against}")
    try:
        lines = _table("all questions", compare(args.control, args.treatment, args.configuration, against), *names)
        if args.by:
            for group, ids in sorted(question_groups(args.control, args.by).items()):
                rows = compare(args.control, args.treatment, args.configuration, against, ids)
                lines += _table(f"{args.by} = {group} (n = {len(ids)})", rows, *names)
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write("\n".join(lines) + "\n")  # the tables are the command's output, not log lines
    return 0


if __name__ == "__main__":
    sys.exit(main())
