"""Micro-batching of whole searches: questions waiting together are searched as one batch.

A batch shares one encoder call and one search per backend. The worker takes whatever is queued when
it becomes free, so a lone client never waits for a batch to fill, and under load every batch serves
all questions that arrived during the previous one. The queue is bounded (a full one refuses at once:
``SearchQueueFullError``), and a question whose future was cancelled (its client went away) is dropped
before it is computed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

MAX_BATCH = 32
MAX_QUEUE = 256


class SearchQueueFullError(RuntimeError):
    """Too many questions are waiting: the caller should retry later."""


@dataclass
class _Job:
    question: str
    top_k: int
    filters: Any = None  # passed through to the search untouched
    future: Future = field(default_factory=Future)


class SearchBatcher:
    """Runs ``search(questions, top_ks, filters) -> results`` on a worker thread, one batch at a time."""

    def __init__(
        self,
        search: Callable[[list[str], list[int], list[Any]], list],
        max_batch: int = MAX_BATCH,
        max_queue: int = MAX_QUEUE,
    ) -> None:
        self._search = search
        self._max_batch = max_batch
        self._max_queue = max_queue
        # One slot more than the limit, kept for close()'s stop marker.
        self._queue: queue.Queue[_Job | None] = queue.Queue(max_queue + 1)
        self._thread = threading.Thread(target=self._run, name="ragqa-search-batcher", daemon=True)
        self._thread.start()
        self.batches = 0
        self.questions = 0

    def submit(self, question: str, top_k: int, filters: Any = None) -> Future:
        """Queue a question; the future resolves to its result (cancel it to drop the question)."""
        job = _Job(question, top_k, filters)
        if self._queue.qsize() >= self._max_queue:
            raise SearchQueueFullError(
                f"the server is busy ({self._max_queue} questions are waiting): retry in a few seconds"
            )
        self._queue.put_nowait(job)
        return job.future

    def close(self) -> None:
        """Stop the worker after the queued jobs."""
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self._max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)
                    break
                jobs.append(job)
            # A cancelled future (the client disconnected) is not computed; the others are marked running.
            jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
            if not jobs:
                continue
            self.batches += 1
            self.questions += len(jobs)
            self._answer(jobs)

    def _answer(self, jobs: list[_Job]) -> None:
        try:
            results = self._search([j.question for j in jobs], [j.top_k for j in jobs], [j.filters for j in jobs])
        except BaseException as exc:  # noqa: BLE001 - every waiting request must hear about it
            if len(jobs) > 1:  # one bad question must not fail the others that shared its batch
                for job in jobs:
                    self._answer([job])
                return
            logger.exception("query failed: %r", jobs[0].question[:100])
            jobs[0].future.set_exception(exc)
            return
        for job, result in zip(jobs, results):
            job.future.set_result(result)
