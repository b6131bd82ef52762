"""Questions in, ranked cited passages and an extractive answer out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from index.filters import Filters
from service.answering import answer_question
from service.deps import EngineDep
from service.engine import Engine
from service.schemas import MAX_QUESTION_CHARS, MAX_TOP_K, QueryRequest, QueryResponse, error_responses

router = APIRouter(tags=["query"])
ERRORS = error_responses(422, 503)


async def answer(engine: Engine, request: QueryRequest, http: Request) -> Response:
    """Run a validated question through the engine (dropped unsearched if the client disconnects)."""
    body = await answer_question(engine, request, getattr(http.app.state, "recorder", None), http)
    # Serialised here, once: the model is already valid, so FastAPI's second validation pass is skipped.
    return Response(body.model_dump_json(), media_type="application/json")


async def require_json(request: Request) -> None:
    """POST /query takes JSON; say so instead of failing to parse something else (async: no thread hop)."""
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
    """Ask a question (JSON body), optionally narrowed by ``filters``."""
    return await answer(engine, body, http)


@router.get("/query", response_model=QueryResponse, responses=ERRORS)
async def get_query(
    engine: EngineDep,
    http: Request,
    q: Annotated[str, Query(description="The question.", max_length=10 * MAX_QUESTION_CHARS)],
    top_k: Annotated[int, Query(ge=1, le=MAX_TOP_K, description="How many passages (1–50).")] = 5,
    article: Annotated[list[str], Query(description="Only these article ids (repeatable).")] = [],  # noqa: B006
    since: Annotated[str | None, Query(description="Articles dated on or after this day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, Query(description="Articles dated on or before this day, YYYY-MM-DD.")] = None,
    category: Annotated[list[str], Query(description="Articles in any of these categories (repeatable).")] = [],  # noqa: B006
    tag: Annotated[list[str], Query(description="Articles with any of these tags (repeatable).")] = [],  # noqa: B006
) -> Response:
    """Ask a question (query string), e.g. ``/query?q=メタがTPUを導入する理由は？&category=投資分析``."""
    try:
        filters = Filters(article_ids=article, since=since, until=until, categories=category, tags=tag)
        request = QueryRequest(question=q, top_k=top_k, filters=None if filters.empty else filters)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    return await answer(engine, request, http)
