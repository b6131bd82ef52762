"""Typed dependencies shared by the routes: settings, the engine, admin authentication."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ragqa.settings import Settings
from service.engine import Engine

_bearer = HTTPBearer(auto_error=False)


# The two getters are ``async`` only so that FastAPI calls them on the event loop: a plain ``def``
# dependency runs in the thread pool, a thread hop on every request for what is an attribute read.
async def get_engine(request: Request) -> Engine:
    """The engine created with the app."""
    return request.app.state.engine


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Admin endpoints: a configured token, sent as ``Authorization: Bearer <token>``, compared in constant time."""
    token = settings.admin_token
    if not token:
        raise HTTPException(403, "admin endpoints are disabled: set RAGQA_ADMIN_TOKEN and restart to enable them")
    sent = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(sent.encode(), token.encode()):
        raise HTTPException(
            401,
            "missing or wrong admin token: send 'Authorization: Bearer <RAGQA_ADMIN_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


AdminDep = Depends(require_admin)
