"""Request-body size limits, enforced before a body is read: by Content-Length, then by counting streamed bytes.

A pure ASGI middleware, so nothing upstream (FastAPI's JSON parsing, multipart parsing) ever buffers more
than the limit: a declared length over it is refused without reading a byte, and a chunked body is cut off
as soon as it passes it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.asgi import HttpMiddleware, json_error_messages

QUERY_BODY_BYTES = 16 * 1024  # a question is at most 1,000 characters (≤ 4 KB of UTF-8) plus JSON framing
UPLOAD_SLACK_BYTES = 64 * 1024  # multipart framing around the file
OTHER_BODY_BYTES = 64 * 1024  # every other route takes no body or a tiny one


class BodyTooLargeError(Exception):
    """Raised into the app when a streamed body passes its limit (the middleware answers 413 itself)."""


def body_limit_for(max_upload_bytes: int) -> Callable[[str, str], tuple[int, str]]:
    """The (limit, what to do) of a request body by method and path."""

    def limit(method: str, path: str) -> tuple[int, str]:
        if path.rstrip("/") == "/query":
            return QUERY_BODY_BYTES, 'send {"question": "...", "top_k": 5} with a question of at most 1,000 characters'
        if method == "POST" and path.rstrip("/") == "/articles":
            return (
                max_upload_bytes + UPLOAD_SLACK_BYTES,
                f"uploads are limited to {max_upload_bytes:,} bytes: shorten the post or raise RAGQA_MAX_UPLOAD_BYTES",
            )
        return OTHER_BODY_BYTES, "this endpoint takes no large body: send a smaller one"

    return limit


def _too_large(limit: int, advice: str) -> tuple[Message, Message]:
    detail = f"the request body is over the {limit:,}-byte limit for this endpoint: {advice}"
    # The rest of the body is never read, so the connection cannot be reused.
    return json_error_messages(413, detail, {"connection": "close"})


class BodySizeLimitMiddleware(HttpMiddleware):
    """Answer 413 to request bodies over the limit for their route, before they are read into memory."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], tuple[int, str]]) -> None:
        super().__init__(app)
        self.limit_for = limit_for

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, refusing its body once it is over the route's limit."""
        limit, advice = self.limit_for(scope["method"], scope["path"])
        start, body = _too_large(limit, advice)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await send(start)
            await send(body)
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLargeError(f"request body over {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded:
                # Whatever the app made of the cut-off body (a parse error, a 500), the answer is our 413.
                if message["type"] == "http.response.start" and not response_started:
                    response_started = True
                    await send(start)
                    await send(body)
                return
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLargeError:
            if not response_started:
                await send(start)
                await send(body)
