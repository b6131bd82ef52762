"""The MCP server through the SDK's own client, over stdio (`ragqa mcp`) and streamable HTTP (`/mcp`).

Both run as real processes over the two-post tiny corpus and its index.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from ragqa.settings import PROJECT_ROOT
from service.server_process import Server, running_server
from tests.service.conftest import TINY_POSTS, tiny_index

pytestmark = pytest.mark.slow

COOLING = "t1_cooling"
BAKERY = "t2_bakery"
QUESTION = "直接液冷ではGPUの上に何を取り付ける？"


async def _check_tools(client: Client) -> None:
    """The shared expectations, whatever the transport."""
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"search", "list_articles", "get_article"}  # nothing that writes
    assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())
    assert tools["search"].output_schema and "passages" in tools["search"].output_schema["properties"]

    result = await client.call_tool("search", {"question": QUESTION, "top_k": 2})
    assert not result.is_error, result.content
    body = result.structured_content
    assert body["passages"][0]["article_id"] == COOLING
    assert "コールドプレート" in body["answer"] and body["index_version"]
    assert json.loads(result.content[0].text)["passages"] == body["passages"]  # the same, as text

    filtered = await client.call_tool("search", {"question": QUESTION, "top_k": 2, "article_ids": [BAKERY]})
    assert {p["article_id"] for p in filtered.structured_content["passages"]} == {BAKERY}
    nothing = await client.call_tool("search", {"question": QUESTION, "since": "2030-01-01"})
    assert nothing.structured_content["passages"] == [] and nothing.structured_content["answer"] is None

    bad_date = await client.call_tool("search", {"question": QUESTION, "until": "yesterday"})
    assert bad_date.is_error and "until must be a calendar day written YYYY-MM-DD" in bad_date.content[0].text
    empty = await client.call_tool("search", {"question": "  "})
    assert empty.is_error and "question is empty" in empty.content[0].text

    listed = await client.call_tool("list_articles", {})
    assert {a["id"] for a in listed.structured_content["result"]} == set(TINY_POSTS)

    article = await client.call_tool("get_article", {"article_id": COOLING})
    assert article.structured_content["title"] == TINY_POSTS[COOLING][0]
    assert article.structured_content["passage_count"] == 2

    missing = await client.call_tool("get_article", {"article_id": "no_such_post"})
    assert missing.is_error
    assert "no article 'no_such_post'" in missing.content[0].text and "list_articles" in missing.content[0].text


def _run(connect: Client) -> None:
    async def main() -> None:
        async with connect as client:
            await _check_tools(client)

    anyio.run(main)


def test_stdio_server_answers_through_the_sdk_client(encoder, tmp_path: Path) -> None:
    settings = tiny_index(tmp_path, encoder)
    env = {
        "RAGQA_CORPUS_DIR": str(settings.corpus_dir),
        "RAGQA_INDEX_DIR": str(settings.index_dir),
        "RAGQA_QUERY_LOG": str(tmp_path / "queries.jsonl"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        "HOME": os.environ.get("HOME", ""),  # the model cache lives under it
    }
    params = StdioServerParameters(
        command=sys.executable, args=["-c", "from ragqa.cli import app; app(['mcp'])"], env=env, cwd=PROJECT_ROOT
    )
    with open(tmp_path / "stderr.log", "w") as errlog:
        _run(Client(stdio_client(params, errlog=errlog), read_timeout_seconds=300))
    lines = [json.loads(line) for line in (tmp_path / "queries.jsonl").read_text().splitlines()]
    assert len(lines) == 3  # the searches that reached the engine (the bad date and empty question did not)
    assert lines[0]["article_ids"][0] == COOLING and "question" not in lines[0]


@pytest.fixture(scope="module")
def http_server(tmp_path_factory: pytest.TempPathFactory, encoder) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("mcp-http")
    settings = tiny_index(root, encoder)
    log = root / "queries.jsonl"
    env = {"RAGQA_QUERY_LOG": str(log), "RAGQA_LOG_QUESTIONS": "true"}
    with running_server(settings.corpus_dir, settings.index_dir, env=env) as server:
        server.wait_ready()
        yield server, log


def test_streamable_http_at_slash_mcp_answers_through_the_sdk_client(http_server: tuple[Server, Path]) -> None:
    server, log = http_server
    _run(Client(f"{server.base}/mcp", read_timeout_seconds=120))
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0]["question"] == QUESTION and lines[0]["request_id"]
