"""Which encoder a real `ragqa serve` process runs: with ONNX it never imports torch or sentence-transformers."""

from __future__ import annotations

import json
import signal
import time
import urllib.parse
from pathlib import Path

import pytest

from index.model import ModelError
from service.server_process import running_server
from tests.service.conftest import ADMIN, QUANTUM_POST, TOKEN, copy_index

pytest.importorskip("onnxruntime")

# numba: bm25s would import it (installed with the eval extra) for a JIT backend the service never uses.
HEAVY = ("torch", "sentence_transformers", "transformers", "peft", "numba")


def _module_dump_prelude(path: Path) -> str:
    """Python run before `ragqa serve` in the server process: on SIGUSR1, write its imported modules to ``path``.

    (A module blocked by a ``None`` entry in ``sys.modules`` is not imported, so it is left out.)
    """
    return (
        "import json, os, signal, sys\n"
        "def _dump(signum, frame):\n"
        "    names = sorted(k for k, v in sys.modules.items() if v is not None)\n"
        f"    with open({str(path) + '.tmp'!r}, 'w') as f: f.write(json.dumps(names))\n"
        f"    os.replace({str(path) + '.tmp'!r}, {str(path)!r})\n"
        "signal.signal(signal.SIGUSR1, _dump)\n"
    )


def _served_modules(server, dump: Path) -> list[str]:
    """The modules the server process has imported by now (it is asked through SIGUSR1)."""
    server.proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 30
    while not dump.exists():
        assert time.monotonic() < deadline and server.proc.poll() is None, server.log()
        time.sleep(0.05)
    return json.loads(dump.read_text())


@pytest.mark.slow
def test_onnx_server_answers_without_importing_torch(built_index, tmp_path: Path) -> None:
    settings = copy_index(built_index, tmp_path)
    dump = tmp_path / "modules.json"
    with running_server(
        settings.corpus_dir,
        settings.index_dir,
        env={"RAGQA_ENCODER": "onnx", "RAGQA_ADMIN_TOKEN": TOKEN},
        prelude=_module_dump_prelude(dump),
    ) as server:
        ready = server.wait_ready()
        assert ready["problems"] == []
        status, body = server.request("GET", "/query?" + urllib.parse.urlencode({"q": "Why would Meta adopt TPUs?"}))
        assert status == 200 and body["passages"][0]["article_id"] == "002_214864c1432d6946"
        # An upload embeds its passages in this process too.
        status, body = server.request(
            "POST", "/articles?id=900_quantum", QUANTUM_POST.encode(), {**ADMIN, "Content-Type": "text/plain"}
        )
        assert status == 201 and body["passages_new"] == 2, body
        modules = _served_modules(server, dump)
    assert "onnxruntime" in modules and "index.model.onnx" in modules
    assert [m for m in HEAVY if m in modules] == []


@pytest.mark.slow
def test_onnx_server_builds_its_first_index_without_torch(write_post, tmp_path: Path) -> None:
    corpus = write_post("900_quantum", "量子アニーリングと物流", QUANTUM_POST.split("---\n", 2)[2])
    dump = tmp_path / "modules.json"
    with running_server(
        corpus, tmp_path / "index", env={"RAGQA_ENCODER": "auto"}, prelude=_module_dump_prelude(dump)
    ) as server:
        ready = server.wait_ready()
        assert ready["passages"] == 2
        modules = _served_modules(server, dump)
    assert [m for m in HEAVY if m in modules] == []


@pytest.mark.slow
def test_a_failed_export_falls_back_to_torch_and_says_so_in_readyz(built_index, tmp_path: Path) -> None:
    settings = copy_index(built_index, tmp_path)
    # As if the export had failed (e.g. no disk space): the auto choice serves with torch, loudly.
    prelude = (
        "import index.model.onnx_export as export\nfrom index.model import ModelError\n"
        "def failing(*args, **kwargs):\n"
        "    raise ModelError('the ONNX export failed (test): run `python -m index.model.onnx_export`')\n"
        "export.ensure_onnx_export = failing\n"
    )
    with running_server(
        settings.corpus_dir, settings.index_dir, env={"RAGQA_ENCODER": "auto"}, prelude=prelude
    ) as server:
        ready = server.wait_ready()
        assert len(ready["problems"]) == 1, ready
        assert "serving with torch instead" in ready["problems"][0]
        assert "python -m index.model.onnx_export" in ready["problems"][0]
        status, _ = server.request("GET", "/query?q=TPU")
        assert status == 200
        assert "ONNX encoder is unavailable" in server.log(200_000)


def test_an_explicit_onnx_choice_does_not_fall_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.model.onnx_export as export
    from index.model import load_encoder

    def failing(*args: object, **kwargs: object) -> Path:
        raise ModelError("export failed: run `python -m index.model.onnx_export --cache-dir x --force`")

    monkeypatch.setattr(export, "ensure_onnx_export", failing)
    with pytest.raises(ModelError, match="run `python -m index.model.onnx_export"):
        load_encoder("multilingual-e5-small", tmp_path, runtime="onnx")
    with pytest.raises(ModelError, match="serves only the bundled"):
        load_encoder("intfloat/other-model", tmp_path, runtime="onnx-int8")
    with pytest.raises(ModelError, match="RAGQA_ENCODER='fast' is not one of"):
        load_encoder("multilingual-e5-small", tmp_path, runtime="fast")
