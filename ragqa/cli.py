"""The ``ragqa`` command: one sub-command per pipeline stage. Heavy imports happen inside commands."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ragqa.settings import PROJECT_ROOT, get_settings

NO_ANSWER = "No answer in these articles; the closest passages:"
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
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # it logs every CPU feature it lacks


def _keep_numba_out() -> None:
    """Stop bm25s from importing numba in a serving process (58 MB and 0.3 s of start-up when installed).

    bm25s imports numba whenever it is installed (the eval extra brings it) for a JIT backend that the
    service never selects; a ``None`` entry in ``sys.modules`` makes that import fail, so bm25s uses numpy.
    """
    if "numba" not in sys.modules:
        sys.modules["numba"] = None  # type: ignore[assignment]


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


def _load_encoder(for_build: bool = False):  # type: ignore[no-untyped-def]
    """The configured encoder; ``for_build``: the fastest one on passage batches whose vectors mix with it."""
    from index.model import ModelError, build_runtime, load_encoder

    settings = get_settings()
    try:
        runtime = build_runtime(settings.model, settings.encoder) if for_build else settings.encoder
        return load_encoder(settings.model, settings.model_cache_dir, settings.torch_threads, runtime, settings.adapter)
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def index(
    corpus: CorpusOpt = None,
    index_dir: IndexOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if the corpus is unchanged.")] = False,
) -> None:
    """Build or update the index (only new passages are embedded)."""
    from index.backends.milvus_connect import MilvusError
    from index.build import build_index
    from index.store import IndexStoreError

    settings = get_settings()
    try:
        options = settings.build_options()
    except (ValueError, MilvusError) as exc:  # e.g. RAGQA_BACKEND=milvus without a usable RAGQA_MILVUS_URI
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    encoder = _load_encoder(for_build=True)
    try:
        summary = build_index(
            corpus or settings.corpus_dir,
            index_dir or settings.index_dir,
            encoder,
            options,
            show_progress=True,
            force=force,
        )
    except (IndexStoreError, ValueError, FileNotFoundError, MilvusError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    state = "built" if summary.changed else "up to date"
    typer.echo(
        f"index {summary.version} {state}: {summary.articles} articles, {summary.passages} passages "
        f"({summary.new} new, {summary.reused} reused, {summary.removed} removed) in {summary.seconds:.1f}s "
        f"(embedding {summary.embed_seconds:.1f}s)"
    )
    for message in summary.rejected:
        typer.echo(f"rejected: {message}", err=True)
    if summary.rejected:
        raise typer.Exit(1)


def _open_retriever(index_dir: Path | None, with_ranker: bool = True):  # type: ignore[no-untyped-def]
    from index import store
    from index.backends.milvus_connect import MilvusError
    from index.params import load_rank_params
    from index.ranker import open_ranker
    from index.retriever import HybridRetriever
    from index.store import IndexStoreError
    from index.version import load_latest

    settings = get_settings()
    index_dir = index_dir or settings.index_dir
    if not store.candidate_versions(index_dir):  # before the model, which takes seconds to load
        typer.echo(f"error: no index in {index_dir}: run `ragqa index` to build it", err=True)
        raise typer.Exit(2)
    try:
        load_options = settings.load_options()
    except (ValueError, MilvusError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    encoder = _load_encoder()
    try:
        loaded, _ = load_latest(index_dir, encoder.name, encoder.variant, load_options)
    except (IndexStoreError, MilvusError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    ranker = open_ranker(loaded) if with_ranker else None
    return HybridRetriever(loaded, encoder, load_rank_params(), ranker)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in Japanese or English.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50, help="How many passages.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    index_dir: IndexOpt = None,
    article: Annotated[list[str] | None, typer.Option("--article", help="Only this article id (repeatable).")] = None,
    since: Annotated[str | None, typer.Option("--since", help="Only articles dated on or after YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Only articles dated on or before YYYY-MM-DD.")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="Only this category (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only this tag (repeatable).")] = None,
) -> None:
    """Ask a question: ranked, cited passages (narrowed by article, date, category or tag if given)."""
    from pydantic import ValidationError

    from index.answer import cite, compose_answer
    from index.filters import Filters, allowed_rows
    from service.schemas import check_question

    try:  # the API's rules: control characters become spaces, 1–1,000 characters
        question = check_question(question)
    except ValueError as exc:
        typer.echo(f'error: {exc}, e.g. ragqa ask "メタがTPUを導入する理由は？"', err=True)
        raise typer.Exit(2) from None
    try:
        filters = Filters(
            article_ids=article or [], since=since, until=until, categories=category or [], tags=tag or []
        )
    except ValidationError as exc:
        problems = "; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors())
        typer.echo(f"error: {problems}", err=True)
        raise typer.Exit(2) from None
    retriever = _open_retriever(index_dir)
    mask = allowed_rows(filters, retriever.index.articles, retriever.index.passages)
    answered = retriever.ask_many([question], top_k, allowed_rows=[mask])[0]
    passages = [cite(h) for h in answered.hits]
    answer = (compose_answer(answered.hits, retriever.params) or None) if answered.answerable else None
    confidence = round(answered.confidence if answered.confidence is not None else 0.0, 4)
    if as_json:
        _echo_json(
            {
                "question": question,
                "answer": answer,
                "confidence": confidence,
                "passages": [p.model_dump() for p in passages],
            }
        )
        return
    if not passages:
        typer.echo("no passage matches these filters: `ragqa ask --help` lists them; drop or widen one", err=True)
    else:
        typer.echo(f"{answer if answer is not None else NO_ANSWER} (confidence {confidence:.2f})\n")
    for p in passages:
        section = f" / {p.section}" if p.section else ""
        typer.echo(f"[{p.rank}] {p.title}{section} ({p.date}, {p.article_id} ¶{p.paragraph}) score {p.score:.3f}")
        typer.echo(f"    » {p.highlight}")
        typer.echo(f"    {p.text}\n")


@app.command("eval")
def evaluate(
    split: Annotated[
        str, typer.Option("--split", help="Questions to score: dev (tune on it), test (report it) or all.")
    ] = "dev",
    compare: Annotated[
        str | None,
        typer.Option("--compare", help="Configurations to test against the default, e.g. bm25,dense (default: all)."),
    ] = None,
    report: Annotated[Path, typer.Option("--report", help="Markdown report to write (charts beside it).")] = (
        PROJECT_ROOT / "eval" / "report" / "README.md"
    ),
    save_expected: Annotated[
        bool, typer.Option("--save-expected", help="Record the default's test-split scores in eval/expected.json.")
    ] = False,
    index_dir: IndexOpt = None,
    questions: Annotated[Path | None, typer.Option("--questions", help="Questions JSONL.")] = None,
) -> None:
    """Score retrieval configurations on the reference questions, with 95 % CIs and paired tests."""
    try:
        from eval.questions import QUESTIONS_PATH, load_questions
        from eval.report import format_tables, write_report
        from eval.retrieval import CONFIGURATIONS, DEFAULT_CONFIGURATION
        from eval.run import evaluate as run_eval
        from eval.run import write_expected
    except ImportError as exc:
        typer.echo(f"error: {exc}: install the eval extra (pip install -e '.[eval]', or make eval)", err=True)
        raise typer.Exit(2) from None

    if split not in ("dev", "test", "all"):
        typer.echo(f"error: --split must be dev, test or all, got {split!r}", err=True)
        raise typer.Exit(2)
    if save_expected and split != "test":
        typer.echo("error: --save-expected records test-split scores: add --split test", err=True)
        raise typer.Exit(2)
    configurations = list(CONFIGURATIONS) if compare is None else [c.strip() for c in compare.split(",") if c.strip()]
    unknown = sorted(set(configurations) - set(CONFIGURATIONS))
    if unknown:
        typer.echo(f"error: unknown configuration(s) {unknown}: choose from {', '.join(CONFIGURATIONS)}", err=True)
        raise typer.Exit(2)
    command = "ragqa eval --split " + split + (f" --compare {compare}" if compare else "")
    try:
        reference = load_questions(questions or QUESTIONS_PATH)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    retriever = _open_retriever(index_dir)
    try:
        result = run_eval(retriever, reference, configurations, split, DEFAULT_CONFIGURATION, command)  # type: ignore[arg-type]
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(format_tables(result))
    typer.echo(f"report written to {write_report(result, report)}")
    if save_expected:
        typer.echo(f"expected scores written to {write_expected(result)}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option("--host", help="Interface (default RAGQA_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default RAGQA_PORT, 8000).")] = None,
) -> None:
    """Serve the HTTP API and search page (builds the index first if there is none)."""
    _keep_numba_out()
    from service.config import engine_from_settings

    settings = get_settings()
    # Start loading the model now, so it overlaps with importing and starting the web server.
    engine = engine_from_settings(settings)
    engine.start(background=True)
    from service.main import run

    run(settings, host or settings.host, port or settings.port, engine)


@app.command()
def mcp() -> None:
    """Serve the search as an MCP server over stdio (tools: search, list_articles, get_article; read-only)."""
    _keep_numba_out()
    from service.answering import QueryRecorder
    from service.config import engine_from_settings
    from service.mcp_server import build_mcp_server
    from service.query_log import QueryLog

    settings = get_settings()
    engine = engine_from_settings(settings)
    engine.start(background=False)  # builds the index first if there is none; stdout stays the protocol's
    if not engine.ready:
        typer.echo(f"error: the search is not ready ({engine.status})", err=True)
        raise typer.Exit(2)
    log = QueryLog.open(settings.query_log, settings.log_questions)
    try:
        build_mcp_server(engine, QueryRecorder(None, log)).run("stdio")
    finally:
        engine.stop()


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
    return "\n".join(
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in table
    )


if __name__ == "__main__":
    app()


@app.command("train-ranker")
def train_ranker(
    index_dir: IndexOpt = None,
    questions: Annotated[Path | None, typer.Option("--questions", help="Questions JSONL.")] = None,
) -> None:
    """Train the ranking stage and the abstention models on the dev split (writes index/ranker.json)."""
    try:
        from eval.questions import QUESTIONS_PATH, load_questions
        from eval.train_ranker import train
    except ImportError as exc:
        typer.echo(f"error: training needs the eval extra ({exc}): pip install -e '.[eval]'", err=True)
        raise typer.Exit(2) from None
    retriever = _open_retriever(index_dir, with_ranker=False)
    cv = train(retriever, load_questions(questions or QUESTIONS_PATH))
    _echo_json(cv)
