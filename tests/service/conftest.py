"""A real engine over a private copy of the built index, and a TestClient on the app."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ragqa.settings import Settings
from service.config import engine_from_settings
from service.engine import Engine
from service.main import create_app
from tests.conftest import build_from_settings, make_post

TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}

QUANTUM_POST = """---
title: "量子アニーリングと物流"
date: 2026-01-05
tags: ["量子", "物流"]
---

量子アニーリングは物流の配送ルート最適化に使われ始めている。ある運送会社は配送距離を12%短縮したという。

一方で、量子ハードウェアの冷却には極低温が必要であり、運用コストは依然として高い。
"""


@dataclass
class Service:
    client: TestClient
    engine: Engine
    settings: Settings


TINY_POSTS = {
    "t1_cooling": (
        "液冷の基礎",
        "液冷はサーバーの熱を水で運び去る技術であり、空冷より多くの熱を扱える。\n\n"
        "直接液冷ではコールドプレートをGPUの上に取り付けて冷却水を流す。\n",
    ),
    "t2_bakery": (
        "パン作りの記録",
        "週末に天然酵母でカンパーニュを焼いた。発酵には室温で十二時間かかった。\n\n"
        "焼き上がりのクープがきれいに開き、香ばしい香りが台所に広がった。\n",
    ),
}


def tiny_settings(root: Path, **overrides) -> Settings:
    """A two-post corpus (builds in seconds) and an empty index folder, for tests that must build from scratch."""
    posts = root / "posts"
    posts.mkdir(parents=True)
    for name, (title, body) in TINY_POSTS.items():
        (posts / f"{name}.txt").write_text(make_post(title, body), encoding="utf-8")
    fields = {"corpus_dir": posts, "index_dir": root / "index", "admin_token": TOKEN, "index_poll_seconds": 0}
    fields.update(overrides)
    return Settings(**fields)


def tiny_index(root: Path, encoder, **overrides) -> Settings:
    """``tiny_settings`` with its index already built in this process.

    For server tests that are not about the first build: a server started on an empty index folder builds
    in a child process that loads the torch model, ~10 s each (test_encoder_serving covers that path).
    """
    settings = tiny_settings(root, **overrides)
    build_from_settings(settings, encoder)
    return settings


def copy_index(built_index, root: Path, **overrides) -> Settings:
    """A private, writable copy of the built corpus and index."""
    _, corpus_dir, index_dir, _ = built_index
    shutil.copytree(corpus_dir, root / "posts")
    shutil.copytree(index_dir, root / "index")
    fields = {
        "corpus_dir": root / "posts",
        "index_dir": root / "index",
        "admin_token": TOKEN,
        "index_poll_seconds": 0.2,
    }
    fields.update(overrides)
    return Settings(**fields)


@pytest.fixture
def service(built_index, encoder, tmp_path: Path) -> Iterator[Service]:
    """A ready app whose corpus and index tests may change."""
    settings = copy_index(built_index, tmp_path)
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    engine.wait_for_catch_up()
    assert engine.ready, engine.status
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        yield Service(client, engine, settings)
    engine.stop()


@pytest.fixture(scope="module")
def shared_service(built_index, encoder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A ready app for read-only tests (one per module)."""
    settings = copy_index(built_index, tmp_path_factory.mktemp("svc"))
    engine = engine_from_settings(settings, encoder)
    engine.start(background=False)
    with TestClient(create_app(settings, engine=engine, start=False)) as client:
        yield Service(client, engine, settings)
    engine.stop()
