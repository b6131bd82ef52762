"""Builds the FastAPI app from a Settings (the edge where settings become plain arguments) and runs it.

For uvicorn users: ``uvicorn --factory service.main:app_from_env`` builds the settings from the environment.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from ragqa import __version__
from ragqa.settings import Settings, get_settings
from service import errors
from service.answering import QueryRecorder
from service.config import engine_from_settings
from service.engine import Engine
from service.limits import BodySizeLimitMiddleware, body_limit_for
from service.mcp_server import StreamableHTTPEndpoint, build_mcp_server
from service.metrics import CONTENT_TYPE, HTTPMetricsMiddleware, Metrics
from service.query_log import QueryLog
from service.request_id import RequestIdMiddleware
from service.routes import admin, articles, health, query
from service.security import SecurityHeadersMiddleware
from service.shutdown_answer import ShutdownAnswerMiddleware

logger = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings, engine: Engine | None = None, start: bool = True) -> FastAPI:
    """The application; ``start`` loads model and index in the background when the app starts."""
    engine = engine or engine_from_settings(settings)
    metrics = Metrics()
    engine.on_build = metrics.observe_build
    recorder = QueryRecorder(metrics, QueryLog.open(settings.query_log, settings.log_questions))
    mcp_http = StreamableHTTPEndpoint(build_mcp_server(engine, recorder), settings.host)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if start:
            engine.start(background=True)
        async with mcp_http.run():  # the MCP transport's task group lives as long as the app
            yield
        engine.stop(build_timeout=settings.shutdown_timeout)

    app = FastAPI(
        title="ragqa",
        version=__version__,
        description="Ask questions in Japanese or English; get ranked, cited paragraphs of the posts.",
        lifespan=lifespan,
        # FastAPI's Swagger UI and ReDoc pages load their assets from a CDN and run an inline script, which
        # the Content-Security-Policy forbids; the schema itself stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.metrics = metrics
    app.state.recorder = recorder
    # Added last = outermost: the headers also go on the 413s of the body limit, and every response is counted.
    # Innermost: its 503 for a request cut off by shutdown goes out through all the others.
    app.add_middleware(ShutdownAnswerMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, limit_for=body_limit_for(settings.max_upload_bytes))
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HTTPMetricsMiddleware, metrics=metrics)
    errors.install(app)
    for router in (query.router, articles.router, admin.router, health.router):
        app.include_router(router)
    app.router.routes.append(Route("/mcp", endpoint=mcp_http))  # through the same middlewares as the API

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics() -> Response:
        return Response(metrics.render(engine.current), media_type=CONTENT_TYPE)

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

        @app.get("/", include_in_schema=False)
        def page() -> FileResponse:
            return FileResponse(STATIC_DIR / "index.html")

    return app


def app_from_env() -> FastAPI:
    """The app with settings from the environment (``uvicorn --factory service.main:app_from_env``)."""
    return create_app(get_settings())


def run(settings: Settings, host: str, port: int, engine: Engine | None = None) -> None:
    """Serve with uvicorn until interrupted (``engine``: one already loading, else a new one)."""
    import uvicorn

    from service.http_protocol import header_timeout_protocol

    logger.info("ragqa %s on http://%s:%d (readiness at /readyz)", __version__, host, port)
    app = create_app(settings, engine=engine, start=engine is None)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
        server_header=False,
        http=header_timeout_protocol(settings.header_timeout),
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive=settings.timeout_keep_alive,
        # Past this, running requests are cancelled; a build in a worker thread stops at its next batch.
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
