"""The ``ragqa`` command: one sub-command per pipeline stage. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ragqa.settings import get_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Cited answers from Japanese blog posts.")

CorpusOpt = Annotated[Path | None, typer.Option("--corpus", help="Posts folder (default: RAGQA_CORPUS_DIR).")]
IndexOpt = Annotated[Path | None, typer.Option("--index", help="Index folder (default: RAGQA_INDEX_DIR).")]


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _echo_json(obj: object) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False))


@app.command()
def passages(
    corpus: CorpusOpt = None,
    stats: Annotated[bool, typer.Option("--stats", help="Per-article cleaning table instead of passages.")] = False,
) -> None:
    """Print the cleaned, deduplicated passages as JSON lines (or a cleaning table with --stats)."""
    from corpus.loader import load_corpus

    try:
        result = load_corpus(corpus or get_settings().corpus_dir)
    except FileNotFoundError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if stats:
        typer.echo(_stats_table(result.stats))
    else:
        for passage in result.passages:
            _echo_json(passage.model_dump())
    for message in result.rejected:
        typer.echo(f"rejected: {message}", err=True)
    if result.rejected:
        raise typer.Exit(1)


def _stats_table(rows: list) -> str:  # rows: list[ArticleStats]
    columns = [
        ("article", "article_id"),
        ("raw lines", "raw_lines"),
        ("kept", "passages"),
        ("exact", "exact"),
        ("truncated", "truncated"),
        ("near-dup", "near_duplicate"),
        ("lines split", "merged_lines_split"),
        ("joined", "continuations_joined"),
        ("markers", "markers"),
        ("headings", "headings"),
    ]
    table = [[h for h, _ in columns]]
    for row in rows:
        table.append([str(getattr(row, f)) for _, f in columns])
    table.append(["total"] + [str(sum(getattr(r, f) for r in rows)) for _, f in columns[1:]])
    widths = [max(len(r[i]) for r in table) for i in range(len(columns))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in table)


if __name__ == "__main__":
    app()
