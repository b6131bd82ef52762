"""Waiting for a queued search without computing it for a client that has gone away."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import TypeVar

from starlette.requests import Request

T = TypeVar("T")
POLL_SECONDS = 0.25


class ClientGoneError(Exception):
    """The client closed the connection before its answer was ready."""


async def result_unless_disconnected(request: Request, future: Future[T], poll: float = POLL_SECONDS) -> T:
    """The future's result; if the client disconnects first, cancel the future (the batcher drops it)."""
    waiting = asyncio.wrap_future(future)  # cancelling this task (e.g. at shutdown) cancels ``future`` too
    while True:
        done, _ = await asyncio.wait({waiting}, timeout=poll)
        if done:
            return waiting.result()
        if await request.is_disconnected():
            waiting.cancel()
            raise ClientGoneError(f"client {request.client} disconnected before its answer was computed")
