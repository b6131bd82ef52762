"""Questions in, ranked cited passages and an extractive answer out."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from index.answer import cite, compose_answer
from service.deps import EngineDep
from service.disconnect import result_unless_disconnected
from service.engine import Engine
from service.schemas import MAX_QUESTION_CHARS, MAX_TOP_K, QueryRequest, QueryResponse, error_responses

router = APIRouter(tags=["query"])
ERRORS = error_responses(422, 503)


async def answer(engine: Engine, request: QueryRequest, http: Request | None = None) -> Response:
    """Run a validated question through the engine (dropped unsearched if the ``http`` client disconnects)."""
    started = time.perf_counter()
    future = engine.submit(request.question, request.top_k)
    result = await (asyncio.wrap_future(future) if http is None else result_unless_disconnected(http, future))
    body = QueryResponse(
        question=request.question,
        answer=compose_answer(result.hits, engine.rank_params) if result.answerable else None,
        confidence=round(result.confidence if result.confidence is not None else 0.0, 4),
        passages=[cite(h) for h in result.hits],
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        index_version=result.version,
    )
    # Serialised here, once: the model is already valid, so FastAPI's second validation pass is skipped.
    return Response(body.model_dump_json(), media_type="application/json")


def require_json(request: Request) -> None:
    """POST /query takes JSON; say so instead of failing to parse something else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        sent = f"not {content_type}" if content_type else "this request had no Content-Type"
        raise HTTPException(415, f'send the question as JSON with "Content-Type: application/json" ({sent})')


@router.post(
    "/query",
    response_model=QueryResponse,
    responses=error_responses(415, 422, 503),
    dependencies=[Depends(require_json)],
)
async def post_query(body: QueryRequest, engine: EngineDep, http: Request) -> Response:
    """Ask a question (JSON body)."""
    return await answer(engine, body, http)


@router.get("/query", response_model=QueryResponse, responses=ERRORS)
async def get_query(
    engine: EngineDep,
    http: Request,
    q: Annotated[str, Query(description="The question.", max_length=10 * MAX_QUESTION_CHARS)],
    top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K, description="How many passages (1–50).")] = 5,
) -> Response:
    """Ask a question (query string), e.g. ``/query?q=メタがTPUを導入する理由は？``."""
    try:
        request = QueryRequest(question=q, top_k=top_k)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return await answer(engine, request, http)
