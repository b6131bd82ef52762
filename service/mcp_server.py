"""The search as a Model Context Protocol server: tools ``search``, ``list_articles`` and ``get_article``.

Read-only by construction (no upload or delete tool). One server object serves both transports: stdio
(`ragqa mcp`) and streamable HTTP at ``/mcp`` inside the web service, over the engine it is given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import HTTPException
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError
from starlette.types import Receive, Scope, Send

from index.filters import Filters
from ragqa import __version__
from service.answering import QueryRecorder, answer_question
from service.engine import Engine, NotReadyError
from service.routes import articles as article_routes
from service.schemas import MAX_TOP_K, ArticleDetail, ArticleSummary, QueryRequest, QueryResponse

INSTRUCTIONS = (
    "Search a collection of Japanese blog posts about AI chips, data centres and the companies behind them. "
    "Ask in Japanese or English with `search`; every passage it returns carries its article id, title, date and "
    "paragraph so you can cite it. Use `list_articles` to see what the collection holds and `get_article` to read "
    "one post in full."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)


def _problem(exc: ValidationError) -> str:
    return "; ".join(str(e.get("ctx", {}).get("error", e["msg"])) for e in exc.errors())


def build_mcp_server(engine: Engine, recorder: QueryRecorder | None = None) -> MCPServer:
    """An MCP server whose tools answer from ``engine`` (queries counted and logged by ``recorder``)."""
    server = MCPServer(name="ragqa", version=__version__, instructions=INSTRUCTIONS)

    @server.tool(annotations=READ_ONLY)
    async def search(
        question: Annotated[str, Field(description="The question, in Japanese or English (1–1,000 characters).")],
        top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K, description="How many passages (1–50).")] = 5,
        article_ids: Annotated[list[str] | None, Field(description="Only these articles (see list_articles).")] = None,
        since: Annotated[str | None, Field(description="Only articles dated on or after this day, YYYY-MM-DD.")] = None,
        until: Annotated[
            str | None, Field(description="Only articles dated on or before this day, YYYY-MM-DD.")
        ] = None,
        categories: Annotated[list[str] | None, Field(description="Only articles in any of these categories.")] = None,
        tags: Annotated[list[str] | None, Field(description="Only articles with any of these tags.")] = None,
    ) -> QueryResponse:
        """Ranked, cited passages answering the question, and a short extractive answer citing them as [rank].

        The answer is null when no passage matched (e.g. the filters exclude every article).
        """
        try:
            filters = Filters(
                article_ids=article_ids or [], since=since, until=until, categories=categories or [], tags=tags or []
            )
            request = QueryRequest(question=question, top_k=top_k, filters=None if filters.empty else filters)
        except ValidationError as exc:
            raise ToolError(_problem(exc)) from None
        try:
            return await answer_question(engine, request, recorder)
        except NotReadyError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(annotations=READ_ONLY)
    def list_articles() -> list[ArticleSummary]:
        """Every article in the collection: id, title, date, tags and how many passages it has."""
        try:
            return article_routes.list_articles(engine)
        except NotReadyError as exc:
            raise ToolError(str(exc)) from None

    @server.tool(annotations=READ_ONLY)
    def get_article(
        article_id: Annotated[str, Field(description="An article id, as list_articles or search return it.")],
    ) -> ArticleDetail:
        """One article's metadata and all its passages, in order."""
        try:
            return article_routes.get_article(article_id, engine)
        except HTTPException:
            raise ToolError(f"no article {article_id!r}: call list_articles for the ids there are") from None
        except NotReadyError as exc:
            raise ToolError(str(exc)) from None

    return server


class StreamableHTTPEndpoint:
    """``/mcp`` inside the web app: stateless JSON answers, through the app's own middlewares.

    The SDK's session manager runs only once, but an app's lifespan may run more than once (tests enter it
    per client), so each ``run()`` makes a new manager and requests go to the current one.
    """

    def __init__(self, server: MCPServer, host: str) -> None:
        self.server = server
        self.host = host  # on 127.0.0.1/localhost the SDK accepts only local Host/Origin headers

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """Serve requests for as long as the block runs (the app's lifespan)."""
        # Stateless: every tool call is one request, so any worker can take it and nothing is kept.
        self.server.streamable_http_app(
            streamable_http_path="/mcp", stateless_http=True, json_response=True, host=self.host
        )
        async with self.server.session_manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.server.session_manager.handle_request(scope, receive, send)
