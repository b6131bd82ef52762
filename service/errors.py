"""Every error as JSON ``{"detail": "..."}`` with a 4xx status that says what to fix; never a bare 500."""

from __future__ import annotations

import errno
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from corpus.posts import PostExistsError, PostNotFoundError
from index.backends.milvus_connect import MilvusError
from index.store import BuildInProgressError, IndexStoreError
from index.vectors import BuildStoppedError
from service.batcher import SearchQueueFullError
from service.disconnect import ClientGoneError
from service.engine import IndexUpdateError, NotReadyError
from service.security import public_message

logger = logging.getLogger(__name__)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    where = ".".join(parts) or "body"
    return where if len(where) <= 60 else where[:57] + "..."


def _printable(text: str) -> str:
    """Text that can be sent as UTF-8 JSON even if it quotes a lone surrogate from the request."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def describe_validation(exc: RequestValidationError) -> str:
    """One readable sentence per problem, e.g. "top_k: must be ≤ 50"."""
    messages = []
    for error in exc.errors():
        kind = error.get("type", "")
        where = _field(tuple(error.get("loc", ())))
        if kind == "json_invalid":
            messages.append('the body is not valid JSON: send {"question": "...", "top_k": 5}')
        elif kind == "extra_forbidden":
            fields = (
                "filters take article_ids, since, until, categories and tags"
                if where.startswith("filters.")
                else "the fields are 'question', 'top_k' and 'filters'"
            )
            messages.append(f"unknown field '{where}': remove it ({fields})")
        elif kind in ("model_attributes_type", "dict_type", "model_type") and where == "body":
            messages.append('the body must be a JSON object: send {"question": "...", "top_k": 5}')
        elif kind == "missing":
            messages.append(f"'{where}' is missing: add it")
        elif kind == "value_error":
            messages.append(str(error.get("ctx", {}).get("error", error.get("msg"))))
        else:
            messages.append(f"{where}: {error.get('msg', 'invalid value')}")
    return "; ".join(messages) or "invalid request"


def _methods_for(request: Request) -> list[str]:
    """Every method some route accepts on this path (Starlette's Allow header names only the first route's)."""
    allowed = []
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {"type": "http", "path": request.scope["path"], "root_path": "", "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


# Errors whose message already tells the user what to do, and the status each one answers with.
KNOWN_ERRORS: dict[type[Exception], int] = {
    NotReadyError: 503,
    BuildStoppedError: 503,
    SearchQueueFullError: 503,
    IndexStoreError: 503,
    MilvusError: 503,  # Milvus unreachable or its Lite file held elsewhere: retry once it is back
    BuildInProgressError: 409,
    IndexUpdateError: 409,
    PostExistsError: 409,
    PostNotFoundError: 404,
}


def disk_error(exc: OSError) -> tuple[int, str] | None:
    """(status, message) for a disk that is full or read-only; None for other OS errors."""
    if exc.errno == errno.ENOSPC:
        return 507, (
            "the server's disk is full: nothing was changed (the corpus and the served index are as before); "
            "free space on the corpus/index disk (or lower RAGQA_KEEP_VERSIONS), then retry"
        )
    if exc.errno == errno.EROFS:
        return 503, (
            "the server's corpus or index folder is on a read-only file system: nothing was changed; "
            "queries still work, uploads and reindexing need the folder writable again"
        )
    return None


def install(app: FastAPI) -> None:
    """Register the exception handlers."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _printable(describe_validation(exc))}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = 'the body could not be read as UTF-8 JSON: send {"question": "..."} encoded as UTF-8'
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"there is nothing at {request.url.path}: the API is described at /openapi.json"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            allowed = ", ".join(_methods_for(request)) or "another method"
            detail = f"{request.method} is not supported on {request.url.path}: use {allowed}"
        headers = getattr(exc, "headers", None)
        return JSONResponse({"detail": _printable(detail)}, status_code=exc.status_code, headers=headers)

    async def _known(request: Request, exc: Exception) -> JSONResponse:
        # The most specific class wins (BuildInProgressError is also an IndexStoreError).
        status = next(KNOWN_ERRORS[cls] for cls in type(exc).__mro__ if cls in KNOWN_ERRORS)
        if status == 503:
            logger.error("not serving: %s", exc)
        headers = {"Retry-After": "5"} if status == 503 else None
        detail = public_message(str(exc), request.app.state.settings)
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    for error in KNOWN_ERRORS:
        app.add_exception_handler(error, _known)

    @app.exception_handler(OSError)
    async def _disk(request: Request, exc: OSError) -> JSONResponse:
        answer = disk_error(exc)
        if answer is None:
            return await _unexpected(request, exc)
        status, detail = answer
        logger.error("disk problem: %s", exc)
        headers = {"Retry-After": "60"} if status == 503 else None
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    @app.exception_handler(ClientGoneError)
    async def _gone(_: Request, exc: ClientGoneError) -> JSONResponse:
        logger.info("%s", exc)
        # Nobody reads it; 499 is the status proxies log for a client that closed the request.
        return JSONResponse({"detail": "the client closed the connection"}, status_code=499)

    @app.exception_handler(UnicodeDecodeError)
    async def _encoding(_: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return JSONResponse({"detail": "the body is not valid UTF-8: send UTF-8 text"}, status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error")
        return JSONResponse({"detail": f"internal error ({type(exc).__name__}): see the server log"}, status_code=500)
