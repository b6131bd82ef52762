"""Rebuilding the index from the corpus folder (admin)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter

from service.deps import AdminDep, EngineDep
from service.routes.articles import update_response
from service.schemas import IndexUpdate, error_responses

router = APIRouter(tags=["admin"])


@router.post(
    "/admin/reindex",
    response_model=IndexUpdate,
    dependencies=[AdminDep],
    responses=error_responses(401, 403, 409, 503),
)
async def reindex(engine: EngineDep) -> IndexUpdate:
    """Update the index from the corpus folder (after posts were copied in or removed by hand)."""
    started = time.perf_counter()
    summary = await asyncio.to_thread(engine.rebuild)
    return update_response(summary, started, None)
