"""The connection to Milvus: Milvus Lite for a ``.db`` file path, a Milvus server/cluster for an http(s):// URI.

One process owns a Lite ``.db`` file (it takes a lock), so clients are cached per URI in this process and
every backend of a version shares one.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Literal

UriKind = Literal["lite", "server"]


class MilvusError(RuntimeError):
    """Milvus is missing, unreachable, or does not hold what the index version expects."""


def uri_kind(uri: str) -> UriKind:
    """``server`` for an http(s):// URI, ``lite`` for a path to a Milvus Lite ``.db`` file."""
    if re.match(r"^(https?|tcp|grpc)://", uri):
        return "server"
    if not uri.endswith(".db"):
        raise MilvusError(
            f"RAGQA_MILVUS_URI={uri!r} is neither an http(s):// address nor a Milvus Lite file: "
            "use e.g. /var/lib/ragqa/ragqa.db (Milvus Lite) or http://localhost:19530 (a Milvus server)"
        )
    return "lite"


_clients: dict[str, Any] = {}


def connect(uri: str, token: str | None = None, timeout: float = 10.0) -> Any:
    """A MilvusClient for ``uri`` (one per URI per process), or a MilvusError saying what to do."""
    kind = uri_kind(uri)
    key = uri if kind == "server" else str(Path(uri).resolve())
    if key in _clients:
        return _clients[key]
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise MilvusError("pymilvus is not installed: pip install 'ragqa[milvus]'") from None
    if kind == "lite":
        try:
            import milvus_lite  # noqa: F401 - pymilvus needs it to open a .db file
        except ImportError:
            raise MilvusError("milvus-lite is not installed: pip install 'ragqa[milvus]'") from None
        Path(key).parent.mkdir(parents=True, exist_ok=True)
        # Lite's in-process gRPC server logs a traceback at ERROR for each AllocTimestamp call pymilvus makes
        # after a flush; pymilvus falls back by itself, so those are noise in the service's log.
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
    try:
        client = MilvusClient(uri=key, token=token or "", timeout=timeout)
        client.list_collections()  # the client connects lazily: prove it now
    except Exception as exc:
        if kind == "lite":
            raise MilvusError(
                f"cannot open Milvus Lite file {key} ({exc}): another process probably owns it (one process per "
                ".db file). If a `ragqa serve` holds it, update its index through the service (POST "
                "/admin/reindex, or upload/delete posts) instead of `ragqa index`; or stop that process; or "
                "serve the file with `milvus-lite server` and use its http:// URI"
            ) from None
        raise MilvusError(
            f"cannot reach Milvus at {uri} ({type(exc).__name__}: {exc}): start the server or fix "
            "RAGQA_MILVUS_URI / RAGQA_MILVUS_TOKEN"
        ) from None
    _clients[key] = client
    return client


def close(uri: str) -> None:
    """Close this process's client for ``uri`` (for Lite this stops its server process)."""
    key = uri if uri_kind(uri) == "server" else str(Path(uri).resolve())
    client = _clients.pop(key, None)
    if client is not None:
        client.close()
