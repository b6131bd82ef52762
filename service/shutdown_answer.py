"""A request still running when the server's graceful shutdown runs out gets a 503 that says to retry.

uvicorn cancels such a request's task after ``RAGQA_SHUTDOWN_TIMEOUT`` seconds and, when no response was
started, answers a plain-text ``500 Internal Server Error``. This middleware sends the client a JSON 503
with ``Retry-After`` instead (an interrupted upload is undone by the engine, so retrying is safe), then lets
the cancellation go on.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from service.asgi import HttpMiddleware, json_error_messages

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
                for message in json_error_messages(503, DETAIL, {"retry-after": "5", "connection": "close"}):
                    await send(message)
            raise
