"""Paired comparison of two `ragqa eval` runs of one configuration (e.g. the same index built by two encoders).

    python -m eval.compare eval/report-fp32/results.json eval/report-int8/results.json [--configuration hybrid]

Both runs must have scored the same questions; the per-question scores of ``results.json`` are compared
with the paired randomization test ``ragqa eval`` uses between configurations.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from eval.metrics import METRICS, paired_p_value
from eval.run import PERMUTATIONS


def per_question(path: Path, configuration: str) -> dict[str, dict[str, float]]:
    """Question id → metric → score of ``configuration`` in the ``results.json`` at ``path``."""
    result = json.loads(path.read_text(encoding="utf-8"))
    if configuration not in result["configurations"]:
        raise ValueError(f"{path} has no {configuration!r} run: it has {', '.join(result['configurations'])}")
    return {q["id"]: q["scores"][configuration] for q in result["per_question"]}


def compare(control: Path, treatment: Path, configuration: str) -> list[tuple[str, float, float, float]]:
    """Per metric: (metric, control mean, treatment mean, two-sided paired p-value)."""
    a, b = per_question(control, configuration), per_question(treatment, configuration)
    if a.keys() != b.keys():
        raise ValueError(f"{control} and {treatment} scored different questions: run both on the same --split")
    ids = sorted(a)
    rows = []
    for metric in METRICS:
        x = np.array([a[i][metric] for i in ids])
        y = np.array([b[i][metric] for i in ids])
        rows.append((metric, float(x.mean()), float(y.mean()), paired_p_value(x, y, PERMUTATIONS)))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Print the paired comparison of two runs as a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("control", type=Path, help="results.json of the reference run")
    parser.add_argument("treatment", type=Path, help="results.json of the run compared with it")
    parser.add_argument("--configuration", default="hybrid", help="which configuration's scores to compare")
    args = parser.parse_args(argv)
    try:
        rows = compare(args.control, args.treatment, args.configuration)
    except (OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    lines = [
        f"| metric | {args.control.parent.name} | {args.treatment.parent.name} | paired p |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {metric} | {x:.3f} | {y:.3f} | {p:.3f} |" for metric, x, y, p in rows]
    sys.stdout.write("\n".join(lines) + "\n")  # the table is the command's output, not a log line
    return 0


if __name__ == "__main__":
    sys.exit(main())
