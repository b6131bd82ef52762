"""One JSON line per answered question, on stderr or in a file; the question itself only if asked for."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

logger = logging.getLogger(__name__)
QUESTION_HASH_CHARS = 16


def question_hash(question: str) -> str:
    """A short sha256 of the question: repeated questions can be counted without storing their text."""
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:QUESTION_HASH_CHARS]


class QueryLog:
    """Writes query records as JSON lines (thread-safe: queries come from the event loop and MCP alike)."""

    def __init__(self, stream: TextIO, include_questions: bool = False) -> None:
        self._stream = stream
        self.include_questions = include_questions
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path | None, include_questions: bool = False) -> QueryLog:
        """A log appending to ``path`` (its folder is created), or to stderr when there is no path."""
        if path is None:
            return cls(sys.stderr, include_questions)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(path.open("a", encoding="utf-8", buffering=1), include_questions)

    def write(self, question: str, **fields: Any) -> None:
        """Log one query: the time, ``fields``, and the question or its hash."""
        record: dict[str, Any] = {"time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **fields}
        if self.include_questions:
            record["question"] = question
        else:
            record["question_sha256"] = question_hash(question)
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        # A filter value may hold a lone surrogate (valid JSON, not UTF-8): escape it rather than fail the query.
        line = line.encode("utf-8", "backslashreplace").decode("utf-8")
        try:
            with self._lock:
                self._stream.write(line + "\n")
                self._stream.flush()
        except (OSError, ValueError) as exc:  # a full disk or closed stream must not fail the query itself
            logger.warning("could not write the query log: %s", exc)
