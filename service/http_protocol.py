"""uvicorn's HTTP protocol with a deadline for a new connection's request headers.

uvicorn times out idle keep-alive connections (``timeout_keep_alive``) but not a connection that never
finishes its first request: thousands of those hold every file descriptor (and count against
``limit_concurrency``), so real clients are refused. This protocol closes a connection whose first request
line and headers have not arrived within ``header_timeout`` seconds. It does not stop a client that trickles
bytes of later requests slowly: a reverse proxy in front (see the README's operations section) does that.
"""

from __future__ import annotations

import asyncio
import logging

try:  # the same choice as uvicorn's http="auto"
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - httptools is optional in uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base  # type: ignore[assignment]

logger = logging.getLogger(__name__)


class _HeaderTimeoutProtocol(_Base):  # type: ignore[misc, valid-type]
    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_overdue)

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_timer.cancel()
        super().connection_lost(exc)

    def _headers_overdue(self) -> None:
        # ``cycle`` is set once a request's headers are complete (in both uvicorn protocols).
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()


def header_timeout_protocol(header_timeout: float) -> type[asyncio.Protocol]:
    """The protocol class to pass as uvicorn's ``http``: first request headers due within ``header_timeout`` s."""
    return type("HeaderTimeoutProtocol", (_HeaderTimeoutProtocol,), {"header_timeout": header_timeout})
