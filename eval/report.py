"""Present an evaluation: plain-text tables for the terminal, a Markdown report and one chart per language."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from eval.metrics import EXACT_LIMIT, METRICS, bootstrap_ci
from eval.run import Cell, EvalResult, Row

__all__ = ["format_tables", "plot_types", "write_report"]

GROUP_TITLES = {"lang": "By language", "type": "By question type (both languages)", "set": "By question set"}


def _cell(row: Row, metric: str) -> str:
    cell = row.scores[metric]
    return f"{cell.mean:.3f} [{cell.low:.2f}, {cell.high:.2f}]"


def _p(row: Row, metric: str) -> str:
    if metric not in row.p_values:
        return ""
    p = row.p_values[metric]
    return "p<.001" if p < 0.001 else f"p={p:.3f}"


def _header(result: EvalResult) -> list[str]:
    return [
        f"split {result.split}: {result.questions} answerable questions scored, "
        f"{result.unanswerable} unanswerable excluded from retrieval metrics; "
        f"model {result.model}, index {result.index_version}",
        f"mean [95% bootstrap CI, {result.resamples} resamples]; p: paired randomization test against "
        f"{result.default} (exact, or {result.permutations} seeded permutations when over {EXACT_LIMIT} questions "
        "differ), Holm-adjusted over the configurations compared",
        "R@k: share of questions with a relevant passage in the top k (ranx hit_rate@k)",
    ]


def format_tables(result: EvalResult) -> str:
    """The result as plain-text tables, one per grouping (language, type, set)."""
    lines = _header(result)
    for group, title in GROUP_TITLES.items():
        rows = [r for r in result.rows if r.group == group]
        if not rows:
            continue
        lines += ["", title]
        head = f"{'slice':<16} {'config':<7} {'n':>4} " + " ".join(f"{m:<28}" for m in METRICS)
        lines.append(head.rstrip())
        for row in rows:
            cells = " ".join(f"{_cell(row, m) + ' ' + _p(row, m):<28}" for m in METRICS)
            lines.append(f"{row.slice:<16} {row.configuration:<7} {row.n:>4} {cells}".rstrip())
    lines += ["", *_abstention_lines(result)]
    return "\n".join(lines).rstrip()


def _abstention_lines(result: EvalResult) -> list[str]:
    if not result.abstention:
        return ["abstention: not measured (the retriever gives no `answer: null` yet)"]
    return [
        f"abstention {c}: {v['abstention_rate']:.0%} of {v['unanswerable']} unanswerable, "
        f"false abstention {v['false_abstention_rate']:.0%} of {v['answerable']} answerable"
        for c, v in result.abstention.items()
    ]


def _markdown_table(rows: list[Row]) -> list[str]:
    lines = ["| slice | config | n | " + " | ".join(METRICS) + " |", "|" + " --- |" * (3 + len(METRICS))]
    for row in rows:
        cells = " | ".join(f"{_cell(row, m)} {_p(row, m)}".strip() for m in METRICS)
        name = f"**{row.configuration}**" if not row.p_values else row.configuration
        lines.append(f"| {row.slice} | {name} | {row.n} | {cells} |")
    return lines


def plot_types(result: EvalResult, lang: str, path: Path) -> Path | None:
    """Bar chart of MRR@10 per question type for one language, one bar per configuration, CI error bars."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    per_lang = _type_rows_by_lang(result, lang)
    if not per_lang:
        return None
    types = sorted({t for rows in per_lang.values() for t in rows})
    width = 0.8 / len(result.configurations)
    fig, ax = plt.subplots(figsize=(max(6.5, 1.1 * len(types) + 3), 4.2), dpi=110)
    for i, configuration in enumerate(result.configurations):
        rows = per_lang.get(configuration, {})
        xs = [t + (i - (len(result.configurations) - 1) / 2) * width for t in range(len(types))]
        means = [rows[t].mean if t in rows else math.nan for t in types]
        errors = [
            [rows[t].mean - rows[t].low if t in rows else 0 for t in types],
            [rows[t].high - rows[t].mean if t in rows else 0 for t in types],
        ]
        label = f"{configuration} (default)" if configuration == result.default else configuration
        ax.bar(xs, means, width, yerr=errors, capsize=2, label=label, error_kw={"linewidth": 0.8})
    counts = _type_counts(result, lang)
    ax.set_xticks(range(len(types)), [f"{t}\n(n={counts.get(t, 0)})" for t in types])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("MRR@10 (95% bootstrap CI)")
    ax.set_title(f"MRR@10 by question type, {_lang_name(lang)} questions, {result.split} split")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)  # never over a bar
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _lang_name(lang: str) -> str:
    return {"ja": "Japanese", "en": "English", "all": "all"}[lang]


def _type_rows_by_lang(result: EvalResult, lang: str) -> dict[str, dict[str, Cell]]:
    """configuration → type → MRR@10 with its bootstrap interval, over the questions of one language."""
    out: dict[str, dict[str, Cell]] = {}
    for configuration in result.configurations:
        by_type: dict[str, list[float]] = {}
        for q in result.per_question:
            if lang == "all" or q.lang == lang:
                by_type.setdefault(q.type, []).append(q.scores[configuration]["MRR@10"])
        cells = {}
        for type_, values in by_type.items():
            array = np.array(values)
            low, high = bootstrap_ci(array, result.resamples)
            cells[type_] = Cell(mean=float(array.mean()), low=low, high=high)
        out[configuration] = cells
    return out


def _type_counts(result: EvalResult, lang: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for q in result.per_question:
        if lang == "all" or q.lang == lang:
            counts[q.type] = counts.get(q.type, 0) + 1
    return counts


def write_report(result: EvalResult, path: Path) -> Path:
    """Write the Markdown report, its charts (PNG, beside it) and the raw result (JSON, beside it)."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"# Retrieval evaluation ({result.split} split)",
        "",
        f"Command: `{result.command}` · {result.created_at} · model `{result.model}` · "
        f"index `{result.index_version}` · default configuration **{result.default}**",
        "",
        *[f"- {line}" for line in _header(result)],
        "- MRR@10 and nDCG@10 as in ranx (binary relevance; a question with several answering paragraphs has "
        "several relevant passages). Depth 10.",
        "",
        "Ranking parameters: " + ", ".join(f"`{k}={v}`" for k, v in result.parameters.items()),
        "",
    ]
    for lang in ("ja", "en"):
        chart = plot_types(result, lang, folder / f"mrr_by_type_{lang}.png")
        if chart is not None:
            lines += [f"![MRR@10 by type, {_lang_name(lang)}]({chart.name})", ""]
    for group, title in GROUP_TITLES.items():
        rows = [r for r in result.rows if r.group == group]
        if rows:
            lines += [f"## {title}", "", *_markdown_table(rows), ""]
    lines += ["## Abstention", "", *_abstention_lines(result), ""]
    lines += [
        "Per-question ranks of the first relevant passage: [`results.json`](results.json).",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    (folder / "results.json").write_text(
        json.dumps(result.model_dump(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return path
