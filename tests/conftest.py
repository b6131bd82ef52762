"""Shared fixtures: paths to the shipped corpus and a helper to write small posts."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from ragqa.settings import DEFAULT_CORPUS_DIR

# The public passage schema of `ragqa ask --json` and the HTTP API, in order.
PASSAGE_FIELDS = [
    "rank",
    "score",
    "id",
    "article_id",
    "title",
    "date",
    "section",
    "paragraph",
    "text",
    "highlight",
    "sources",
]

HEADER = '---\ntitle: "{title}"\ndate: 2025-11-26 20:34:30 +0000\ntags: ["AI"]\n---\n\n'


# What a full run holds at once under the temporary folder (a test's index copy, the session's index and
# model copies); passed tests' folders are deleted as they finish (tmp_path_retention_policy in pyproject.toml).
FREE_DISK_NEEDED = 2 * 1024**3


def pytest_sessionstart(session: pytest.Session) -> None:
    """Stop at once, saying what to do, when the disk cannot hold the run (instead of a hundred setup errors)."""
    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if free < FREE_DISK_NEEDED:
        pytest.exit(
            f"only {free / 2**30:.1f} GiB free under {folder}; the tests need about "
            f"{FREE_DISK_NEEDED / 2**30:.0f} GiB there: free some space or point TMPDIR at a larger disk",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def make_post(title: str, body: str) -> str:
    """A post file's text with front matter."""
    return HEADER.format(title=title) + body


@pytest.fixture
def write_post(tmp_path: Path):
    """Write a post into a temporary corpus folder and return the folder."""
    folder = tmp_path / "posts"
    folder.mkdir()

    def write(name: str, title: str, body: str) -> Path:
        (folder / f"{name}.txt").write_text(make_post(title, body), encoding="utf-8")
        return folder

    return write


def build_from_settings(settings, encoder, force: bool = False):  # (Settings, Encoder) -> BuildSummary
    """``build_index`` with the folders and options of ``settings``, as the CLI and the service call it."""
    from index.build import build_index

    return build_index(settings.corpus_dir, settings.index_dir, encoder, settings.build_options(), force=force)


@pytest.fixture(scope="session")
def default_corpus_dir() -> Path:
    return DEFAULT_CORPUS_DIR


@pytest.fixture(scope="session")
def encoder():
    """The real embedding model as configured (by default the ONNX encoder; materialised once into the cache)."""
    from index.model import load_encoder
    from ragqa.settings import Settings

    settings = Settings()
    return load_encoder(
        settings.model, settings.model_cache_dir, settings.torch_threads, settings.encoder, settings.adapter
    )


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory, encoder, default_corpus_dir: Path):
    """A real index over a copy of the default corpus: (settings, corpus_dir, index_dir, summary). Read-only."""
    import shutil

    from ragqa.settings import Settings

    root = tmp_path_factory.mktemp("built")
    corpus_dir = root / "posts"
    shutil.copytree(default_corpus_dir, corpus_dir)
    settings = Settings(corpus_dir=corpus_dir, index_dir=root / "index")
    summary = build_from_settings(settings, encoder)
    return settings, corpus_dir, root / "index", summary
