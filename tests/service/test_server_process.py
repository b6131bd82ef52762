"""The real server process over HTTP: ask, upload a post, ask what only it answers, delete it."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from service.server_process import running_server
from tests.service.conftest import ADMIN, QUANTUM_POST, TOKEN, copy_index

QUESTION = "量子アニーリングで配送距離はどれだけ短縮された？"


def _ask(server, question: str) -> dict:
    status, body = server.request("GET", "/query?" + urllib.parse.urlencode({"q": question, "top_k": 3}))
    assert status == 200, body
    return body


def test_ask_upload_ask_delete_over_http(built_index, tmp_path: Path) -> None:
    settings = copy_index(built_index, tmp_path)
    with running_server(settings.corpus_dir, settings.index_dir, env={"RAGQA_ADMIN_TOKEN": TOKEN}) as server:
        server.wait_ready()
        first = _ask(server, "Why would Meta adopt Google's TPUs?")
        assert first["passages"][0]["article_id"] == "002_214864c1432d6946"

        status, body = server.request(
            "POST", "/articles?id=900_quantum", QUANTUM_POST.encode(), {**ADMIN, "Content-Type": "text/plain"}
        )
        assert status == 201 and body["passages_new"] == 2, body
        answer = _ask(server, QUESTION)
        assert answer["passages"][0]["article_id"] == "900_quantum"
        assert "[1]" in answer["answer"] and "12%" in answer["answer"]

        status, body = server.request("DELETE", "/articles/900_quantum", headers=ADMIN)
        assert status == 200 and body["passages_removed"] == 2
        assert all(p["article_id"] != "900_quantum" for p in _ask(server, QUESTION)["passages"])
        status, _ = server.request("GET", "/articles/900_quantum")
        assert status == 404
