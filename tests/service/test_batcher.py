import threading
import time

import pytest

from service.batcher import SearchBatcher


def test_waiting_questions_share_one_call_and_get_their_own_results() -> None:
    calls: list[list[str]] = []
    gate = threading.Event()

    def handle(questions: list[str], top_ks: list[int], filters: list) -> list[str]:
        gate.wait(5)
        calls.append(questions)
        return [f"{q}:{k}" for q, k in zip(questions, top_ks)]

    batcher = SearchBatcher(handle)
    first = batcher.submit("a", 1)
    time.sleep(0.05)  # the worker is now blocked on "a"; the rest queue up behind it
    rest = [batcher.submit(q, k) for q, k in (("b", 2), ("c", 3), ("d", 4))]
    gate.set()
    assert first.result(5) == "a:1"
    assert [f.result(5) for f in rest] == ["b:2", "c:3", "d:4"]
    assert calls == [["a"], ["b", "c", "d"]]
    batcher.close()


def test_a_lone_question_is_not_delayed() -> None:
    batcher = SearchBatcher(lambda qs, ks, fs: qs)
    started = time.perf_counter()
    assert batcher.submit("x", 1).result(5) == "x"
    assert time.perf_counter() - started < 0.5
    batcher.close()


def test_a_failing_batch_fails_each_of_its_questions_and_the_worker_survives() -> None:
    def handle(questions, top_ks, filters):
        if "boom" in questions:
            raise ValueError("boom")
        return questions

    batcher = SearchBatcher(handle)
    with pytest.raises(ValueError):
        batcher.submit("boom", 1).result(5)
    assert batcher.submit("ok", 1).result(5) == "ok"
    batcher.close()


def test_a_bad_question_does_not_fail_the_others_in_its_batch() -> None:
    gate = threading.Event()

    def handle(questions, top_ks, filters):
        gate.wait(5)
        if "boom" in questions:
            raise ValueError("boom")
        return questions

    batcher = SearchBatcher(handle)
    first = batcher.submit("first", 1)
    time.sleep(0.05)
    good, bad, other = (batcher.submit(q, 1) for q in ("good", "boom", "other"))
    gate.set()
    assert first.result(5) == "first" and good.result(5) == "good" and other.result(5) == "other"
    with pytest.raises(ValueError):
        bad.result(5)
    batcher.close()


def test_a_question_whose_client_left_is_not_computed_and_the_worker_goes_on() -> None:
    calls: list[list[str]] = []
    gate = threading.Event()

    def handle(questions: list[str], top_ks: list[int], filters: list) -> list[str]:
        gate.wait(5)
        calls.append(questions)
        return list(questions)

    batcher = SearchBatcher(handle)
    first = batcher.submit("a", 1)
    time.sleep(0.05)
    gone, kept = batcher.submit("gone", 1), batcher.submit("kept", 1)
    assert gone.cancel()  # what the route does when its client disconnects
    gate.set()
    assert first.result(5) == "a" and kept.result(5) == "kept"
    assert calls == [["a"], ["kept"]]
    assert batcher.submit("later", 1).result(5) == "later"  # the worker survived the cancelled job
    batcher.close()


def test_a_full_queue_refuses_at_once() -> None:
    from service.batcher import SearchQueueFullError

    gate = threading.Event()
    batcher = SearchBatcher(lambda qs, ks, fs: gate.wait(5) and qs, max_queue=2)
    running = batcher.submit("running", 1)
    time.sleep(0.05)
    waiting = [batcher.submit("q1", 1), batcher.submit("q2", 1)]
    with pytest.raises(SearchQueueFullError, match="retry"):
        batcher.submit("q3", 1)
    gate.set()
    assert running.result(5) == "running" and [f.result(5) for f in waiting] == ["q1", "q2"]
    batcher.close()
