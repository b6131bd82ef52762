"""Prometheus metrics for the service: queries by outcome and stage, the index served, builds, HTTP traffic.

Each app gets its own registry (not prometheus-client's global one), so several apps in one process (tests)
never collide, and /metrics shows exactly this app's numbers.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from index.retriever import HybridRetriever
from service.asgi import HttpMiddleware

OUTCOMES = ("answered", "abstained", "error")
STAGES = ("encode", "lexical", "dense", "rank", "total")
CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED_ROUTE = "<unmatched>"  # every path no route takes shares one label, so scanners cannot blow up the series


class Metrics:
    """The service's metrics in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.queries = Counter("ragqa_queries", "Questions asked, by outcome.", ["outcome"], registry=r)
        self.query_seconds = Histogram(
            "ragqa_query_seconds",
            "Seconds per query stage; encode/lexical/dense/rank are per search batch, total per question.",
            ["stage"],
            registry=r,
        )
        self.index_passages = Gauge("ragqa_index_passages", "Passages in the index being served.", registry=r)
        self.index_articles = Gauge("ragqa_index_articles", "Articles in the index being served.", registry=r)
        self.index_info = Info("ragqa_index", "The index version being served.", registry=r)
        self.builds = Counter(
            "ragqa_index_builds", "Index builds by this process, by outcome.", ["outcome"], registry=r
        )
        self.build_seconds = Histogram(
            "ragqa_index_build_seconds",
            "Seconds per index build by this process.",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self.uploads = Counter("ragqa_uploads", "Post uploads (POST /articles), by outcome.", ["outcome"], registry=r)
        self.deletes = Counter("ragqa_deletes", "Post deletions, by outcome.", ["outcome"], registry=r)
        self.http_requests = Counter(
            "ragqa_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "ragqa_http_request_seconds",
            "HTTP request latency by method, route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        for outcome in OUTCOMES:  # present from the start, so rate() works before the first error
            self.queries.labels(outcome)
        for outcome in ("ok", "error"):
            self.builds.labels(outcome)
            self.uploads.labels(outcome)
            self.deletes.labels(outcome)

    def observe_query(self, outcome: str, timings: dict[str, float], total_seconds: float) -> None:
        """Count one question and record its stage timings."""
        self.queries.labels(outcome).inc()
        for stage, seconds in timings.items():
            if stage in STAGES:
                self.query_seconds.labels(stage).observe(seconds)
        self.query_seconds.labels("total").observe(total_seconds)

    def observe_build(self, seconds: float, succeeded: bool) -> None:
        """Count one index build (the engine's ``on_build`` hook)."""
        self.builds.labels("ok" if succeeded else "error").inc()
        self.build_seconds.observe(seconds)

    def render(self, retriever: HybridRetriever | None) -> bytes:
        """The text exposition, with the index gauges set from the index being served."""
        if retriever is not None:
            index = retriever.index
            self.index_passages.set(len(index.passages))
            self.index_articles.set(len(index.articles))
            self.index_info.info({"version": index.version})
        return generate_latest(self.registry)


class HTTPMetricsMiddleware(HttpMiddleware):
    """Count and time every HTTP request by its route template (``/articles/{article_id}``), not its path."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, counting and timing it."""
        started = time.perf_counter()
        status = 500  # if the app dies before answering, the server answers 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")  # set by the router on the scope it was given (this one)
            template = getattr(route, "path", None) or UNMATCHED_ROUTE
            labels = (scope["method"], template, str(status))
            self.metrics.http_requests.labels(*labels).inc()
            self.metrics.http_seconds.labels(*labels).observe(time.perf_counter() - started)
