"""A request still running when the server's graceful shutdown runs out gets a 503 that says to retry.

uvicorn cancels such a request's task after ``RAGQA_SHUTDOWN_TIMEOUT`` seconds and, when no response was
started, answers a plain-text ``500 Internal Server Error``. This middleware sends the client a JSON 503
with ``Retry-After`` instead (an interrupted upload is undone by the engine, so retrying is safe), then lets
the cancellation go on.
"""

from __future__ import annotations

import asyncio
import json

from starlette.types import Message, Receive, Scope, Send

from service.asgi import HttpMiddleware

DETAIL = "the server shut down before this request finished (nothing was changed): retry it in a few seconds"


class ShutdownAnswerMiddleware(HttpMiddleware):
    """Answer 503 + Retry-After for a request that the server's shutdown cancels before it answered."""

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request; if it is cancelled before its response started, answer 503 first."""
        started = False

        async def noting_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, noting_send)
        except asyncio.CancelledError:
            if not started:
                body = json.dumps({"detail": DETAIL}).encode()
                headers = [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", b"5"),
                    (b"connection", b"close"),
                ]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            raise
