"""The BM25 backend logs at the application's level: bm25s's DEBUG lines stay hidden at INFO."""

from __future__ import annotations

import logging

from index.backends import Documents
from index.lexical import BM25Backend


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.NOTSET)  # like logging.basicConfig's handler: the logger levels decide
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_building_logs_no_bm25s_debug_lines_at_info(tmp_path) -> None:
    root = logging.getLogger()
    handler, level = _Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # what `ragqa` configures without --verbose
    try:
        backend = BM25Backend()
        backend.build(Documents(["液冷はGPUを冷やす。", "電力の話。"]))
        backend.save(tmp_path)
        BM25Backend.load(tmp_path)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    debug = [r.getMessage() for r in handler.records if r.name.startswith("bm25s") and r.levelno < logging.INFO]
    assert debug == []
