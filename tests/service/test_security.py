"""Security headers from the real server, no third-party docs page, and no filesystem paths for anonymous clients."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

from fastapi.testclient import TestClient

from ragqa.settings import Settings
from service.config import engine_from_settings
from service.main import STATIC_DIR, create_app
from service.security import redact_paths
from service.server_process import running_server
from tests.service.conftest import tiny_settings

CSP = "default-src 'self'; frame-ancestors 'none'"


def _get(base: str, path: str) -> tuple[int, dict[str, str]]:
    """(status, lower-cased headers) of a GET, retried while the server is still starting to listen."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_real_server_sends_security_headers_and_no_server_header(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    # Headers do not depend on readiness, so the test does not wait for the model.
    with running_server(settings.corpus_dir, settings.index_dir) as server:
        for path in ("/healthz", "/", "/static/app.js", "/openapi.json", "/readyz", "/nope"):
            status, headers = _get(server.base, path)
            assert status in (200, 404, 503), (path, status)
            assert headers.get("content-security-policy") == CSP, (path, headers)
            assert headers.get("x-content-type-options") == "nosniff", (path, headers)
            assert "server" not in headers, (path, headers)
        assert _get(server.base, "/openapi.json")[0] == 200
        assert _get(server.base, "/docs")[0] == 404  # Swagger UI would pull its assets from a CDN
        assert _get(server.base, "/redoc")[0] == 404


class _Inline(HTMLParser):
    """Collects what a `default-src 'self'` policy would block in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        if tag == "script" and not names.get("src") or tag == "style":
            self.blocked.append(f"inline <{tag}>")
        self.blocked += [f"{tag} {k}=" for k in names if k == "style" or k.startswith("on")]
        for key in ("src", "href"):
            value = names.get(key) or ""
            if re.match(r"(?i)(https?:|//|data:|javascript:)", value) and not (tag == "a" and key == "href"):
                self.blocked.append(f"{tag} {key}={value}")


def test_search_page_needs_nothing_inline_or_external() -> None:
    parser = _Inline()
    parser.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    assert parser.blocked == []
    script = re.sub(r"//[^\n]*", "", (STATIC_DIR / "app.js").read_text(encoding="utf-8"))  # code, not comments
    assert not re.search(r"innerHTML|insertAdjacentHTML|eval\(|new Function|setAttribute\(\s*[\"']style", script)


def test_readyz_and_errors_show_no_filesystem_paths(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("", encoding="utf-8")  # the model cache cannot be created under a file
    settings = Settings(
        corpus_dir=tmp_path / "posts",
        index_dir=tmp_path / "index",
        model_cache_dir=blocker / "models",
        index_poll_seconds=0,
    )
    engine = engine_from_settings(settings)
    engine.start(background=False)
    assert engine.status.startswith("failed") and str(tmp_path) in engine.status  # the log keeps the detail
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        ready = client.get("/readyz")
        query = client.get("/query", params={"q": "液冷"})
    assert ready.status_code == 503 and query.status_code == 503
    for body in (ready.text, query.text):
        assert str(tmp_path) not in body and "/tmp" not in body, body
    assert "RAGQA_MODEL_CACHE_DIR" in ready.json()["status"]


def test_redact_paths_keeps_url_paths() -> None:
    text = "no index in /tmp/x/index: run `ragqa index`; GET /articles lists the ids; see /openapi.json"
    assert (
        redact_paths(text) == "no index in …/index: run `ragqa index`; GET /articles lists the ids; see /openapi.json"
    )
    assert redact_paths("cannot read /srv/ragqa/models/e5", {"RAGQA_MODEL_CACHE_DIR": Path("/srv/ragqa/models")}) == (
        "cannot read RAGQA_MODEL_CACHE_DIR/e5"
    )
