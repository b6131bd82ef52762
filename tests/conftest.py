"""Shared fixtures: paths to the shipped corpus and a helper to write small posts."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragqa.settings import DEFAULT_CORPUS_DIR

HEADER = '---\ntitle: "{title}"\ndate: 2025-11-26 20:34:30 +0000\ntags: ["AI"]\n---\n\n'


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


@pytest.fixture(scope="session")
def default_corpus_dir() -> Path:
    return DEFAULT_CORPUS_DIR
