"""What our pure-ASGI middlewares share: HTTP-only handling, headers added to the response start, and the
messages of a JSON error response they answer themselves."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMiddleware:
    """A pure ASGI middleware that passes lifespan and websocket scopes straight through to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle_http(scope, receive, send)

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (subclasses wrap ``self.app``)."""
        raise NotImplementedError


def adding_headers(send: Send, headers: Mapping[str, str]) -> Send:
    """``send`` that sets ``headers`` on the response's start message (replacing any of the same name)."""

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            response_headers = MutableHeaders(scope=message)
            for name, value in headers.items():
                response_headers[name] = value
        await send(message)

    return send_with_headers


def json_error_messages(status: int, detail: str, headers: Mapping[str, str]) -> tuple[Message, Message]:
    """The start and body messages of a ``{"detail": ...}`` JSON response, with ``headers`` added."""
    body = json.dumps({"detail": detail}).encode()
    start_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    start_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
    start = {"type": "http.response.start", "status": status, "headers": start_headers}
    return start, {"type": "http.response.body", "body": body}
