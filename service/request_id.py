"""An ``X-Request-ID`` on every response: the client's own if it sent a sane one, else a new one."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.types import Receive, Scope, Send

from service.asgi import HttpMiddleware, adding_headers

HEADER = "X-Request-ID"
# A client's id is echoed only if it is short and plain, so it cannot forge log lines or headers.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

current_request_id: ContextVar[str | None] = ContextVar("ragqa_request_id", default=None)


def new_request_id() -> str:
    """A fresh random id."""
    return uuid.uuid4().hex


class RequestIdMiddleware(HttpMiddleware):
    """Take or make the request's id, expose it to handlers (``current_request_id``), send it back."""

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request with its id set, and return the id in the response's headers."""
        sent = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1").strip()
        request_id = sent if _SANE_ID.fullmatch(sent) else new_request_id()
        token = current_request_id.set(request_id)
        try:
            await self.app(scope, receive, adding_headers(send, {HEADER: request_id}))
        finally:
            current_request_id.reset(token)
