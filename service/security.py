"""Security headers on every response, and filesystem paths kept out of what unauthenticated clients see."""

from __future__ import annotations

import os
import re
from pathlib import Path

from starlette.types import Receive, Scope, Send

from ragqa.settings import Settings
from service.asgi import HttpMiddleware, adding_headers

# The search page loads its script and stylesheet from /static and builds the DOM with textContent,
# so nothing inline is needed; framing is refused against clickjacking.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeadersMiddleware(HttpMiddleware):
    """Add SECURITY_HEADERS to every HTTP response."""

    async def handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, adding SECURITY_HEADERS to its response."""
        await self.app(scope, receive, adding_headers(send, SECURITY_HEADERS))


def _absolute_path_pattern() -> re.Pattern[str]:
    # Only paths under this machine's real top-level folders: URL paths such as /query or /articles stay.
    try:
        roots = sorted(name for name in os.listdir("/") if re.fullmatch(r"[\w.-]+", name))
    except OSError:
        roots = ["home", "root", "tmp", "var", "usr", "opt", "srv", "mnt", "work", "data"]
    return re.compile(r"(?<![\w.~/])/(?:" + "|".join(map(re.escape, roots)) + r")(?:/[^\s'\"(),;:]*)*")


_ABSOLUTE_PATH = _absolute_path_pattern()


def redact_paths(text: str, named: dict[str, Path] | None = None) -> str:
    """``text`` with absolute filesystem paths replaced: configured ones by their setting's name, others by
    '…/' and their last component (the full message stays in the server log)."""
    for label, path in sorted((named or {}).items(), key=lambda item: -len(str(item[1]))):
        if path.is_absolute():  # a relative path reveals nothing, and replacing it could hit ordinary words
            text = text.replace(str(path), label)
    return _ABSOLUTE_PATH.sub(lambda m: "…/" + (Path(m.group(0)).name or ""), text)


def public_message(text: str, settings: Settings) -> str:
    """A message fit for an unauthenticated response: the configured folders named by their setting."""
    named = {
        "RAGQA_INDEX_DIR": settings.index_dir,
        "RAGQA_CORPUS_DIR": settings.corpus_dir,
        "RAGQA_MODEL_CACHE_DIR": settings.model_cache_dir.expanduser(),
    }
    if settings.milvus_uri and "://" not in settings.milvus_uri:  # a Milvus Lite file
        named["RAGQA_MILVUS_URI"] = Path(settings.milvus_uri).expanduser().resolve()
    return redact_paths(text, named)
