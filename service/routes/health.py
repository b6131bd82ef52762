"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.deps import EngineDep, SettingsDep
from service.schemas import Health
from service.security import public_message

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is alive."""
    return Health(status="alive")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(engine: EngineDep, settings: SettingsDep) -> JSONResponse:
    """200 once the model and the index are loaded; 503 with the reason before (or if loading failed).

    A 200's ``status`` is "ready"; "building" while an index update runs (the previous version serves);
    or "degraded": the current version failed to verify, an older one serves (``problems`` says why) and
    a rebuild from the corpus runs in the background.
    """
    retriever = engine.current
    if retriever is None:
        body = Health(
            status=public_message(engine.status, settings),
            problems=[public_message(p, settings) for p in engine.problems],
        )
        return JSONResponse(body.model_dump(), status_code=503)
    body = Health(
        status="degraded" if engine.degraded else "building" if engine.building else "ready",
        index_version=retriever.index.version,
        passages=len(retriever.index.passages),
        problems=[public_message(p, settings) for p in engine.problems],
    )
    return JSONResponse(body.model_dump(), status_code=200)
