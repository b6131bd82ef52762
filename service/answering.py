"""One validated question through the engine, counted in the metrics and written to the query log.

Shared by POST/GET /query and the MCP server's ``search`` tool, so both answer, count and log alike.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from fastapi import Request

from index.answer import cite, compose_answer
from service.disconnect import result_unless_disconnected
from service.engine import Engine
from service.metrics import Metrics
from service.query_log import QueryLog
from service.request_id import current_request_id, new_request_id
from service.schemas import QueryRequest, QueryResponse


@dataclass
class QueryRecorder:
    """Where queries are counted and logged (either may be absent, e.g. no metrics over stdio)."""

    metrics: Metrics | None
    log: QueryLog | None


async def answer_question(
    engine: Engine, request: QueryRequest, recorder: QueryRecorder | None, http: Request | None = None
) -> QueryResponse:
    """The cited passages and answer for ``request`` (answer None when the articles do not answer it).

    With ``http``, a question whose client disconnects while it waits is dropped unsearched.
    """
    started = time.perf_counter()
    try:
        future = engine.submit(request.question, request.top_k, request.filters)
        result = await (asyncio.wrap_future(future) if http is None else result_unless_disconnected(http, future))
    except Exception as exc:
        if recorder is not None and recorder.metrics is not None:
            recorder.metrics.observe_query("error", {}, time.perf_counter() - started)
        if recorder is not None and recorder.log is not None:
            recorder.log.write(
                request.question,
                request_id=current_request_id.get() or new_request_id(),
                took_ms=round((time.perf_counter() - started) * 1000, 2),
                top_k=request.top_k,
                filters=_filters_record(request),
                error=type(exc).__name__,
            )
        raise
    body = QueryResponse(
        question=request.question,
        answer=(compose_answer(result.hits, engine.rank_params) or None) if result.answerable else None,
        confidence=round(result.confidence if result.confidence is not None else 0.0, 4),
        passages=[cite(h) for h in result.hits],
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        index_version=result.version,
    )
    abstained = body.answer is None
    if recorder is not None and recorder.metrics is not None:
        outcome = "abstained" if abstained else "answered"
        recorder.metrics.observe_query(outcome, result.timings, time.perf_counter() - started)
    if recorder is not None and recorder.log is not None:
        recorder.log.write(
            request.question,
            request_id=current_request_id.get() or new_request_id(),
            took_ms=body.took_ms,
            index_version=body.index_version,
            top_k=request.top_k,
            article_ids=list(dict.fromkeys(p.article_id for p in body.passages)),
            abstained=abstained,
            filters=_filters_record(request),
        )
    return body


def _filters_record(request: QueryRequest) -> dict | None:
    return request.filters.model_dump(mode="json", exclude_defaults=True) if request.filters else None
