from concurrent.futures import ThreadPoolExecutor

from tests.conftest import PASSAGE_FIELDS
from tests.service.conftest import Service

META = "002_214864c1432d6946"


def test_post_query_returns_cited_passages_and_an_answer(shared_service: Service) -> None:
    response = shared_service.client.post("/query", json={"question": "Why would Meta adopt Google's TPUs?"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"question", "answer", "confidence", "passages", "took_ms", "index_version"}
    assert 0.0 < body["confidence"] <= 1.0
    assert len(body["passages"]) == 5
    first = body["passages"][0]
    assert list(first) == PASSAGE_FIELDS
    assert first["article_id"] == META and first["rank"] == 1
    assert first["highlight"] in first["text"]
    assert "[1]" in body["answer"] and first["highlight"] in body["answer"]
    assert body["index_version"] == shared_service.engine.retriever.index.version
    assert body["took_ms"] > 0


def test_off_topic_question_gets_a_null_answer_and_still_the_closest_passages(shared_service: Service) -> None:
    body = shared_service.client.post("/query", json={"question": "美味しいカレーの作り方を教えて"}).json()
    assert body["answer"] is None
    assert len(body["passages"]) == 5
    assert 0.0 <= body["confidence"] < 0.5


def test_get_query_returns_the_same_as_post(shared_service: Service) -> None:
    question = "メタがTPUを導入する理由は？"
    got = shared_service.client.get("/query", params={"q": question, "top_k": 3}).json()
    posted = shared_service.client.post("/query", json={"question": question, "top_k": 3}).json()
    assert [p["id"] for p in got["passages"]] == [p["id"] for p in posted["passages"]]
    assert got["answer"] == posted["answer"]
    assert got["passages"][0]["article_id"] == META


def test_top_k_bounds_the_passages(shared_service: Service) -> None:
    body = shared_service.client.post("/query", json={"question": "液冷", "top_k": 1}).json()
    assert len(body["passages"]) == 1
    body = shared_service.client.post("/query", json={"question": "液冷", "top_k": 50}).json()
    assert 20 < len(body["passages"]) <= 50


def test_concurrent_questions_share_encoder_calls_and_get_their_own_answers(shared_service: Service) -> None:
    questions = ["How many GPUs are in a Helios rack?", "メタがTPUを導入する理由は？"] * 8
    batcher = shared_service.engine._batcher
    before_batches, before_questions = batcher.batches, batcher.questions
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda q: shared_service.client.post("/query", json={"question": q}).json(), questions))
    for question, body in zip(questions, bodies):
        assert body["question"] == question
    assert {b["passages"][0]["article_id"] for b in bodies[1::2]} == {META}
    assert batcher.questions - before_questions == len(questions)
    assert batcher.batches - before_batches < len(questions)


def test_a_batch_with_mixed_top_k_ranks_each_question_as_if_alone(shared_service: Service) -> None:
    engine = shared_service.engine
    asks = [("液冷の普及率は？", 3), ("What is MTIA?", 50), ("HeliosラックのGPU数は？", 7), ("液冷の普及率は？", 50)]
    results = engine._search_batch([q for q, _ in asks], [k for _, k in asks])
    for (question, top_k), result in zip(asks, results):
        alone = engine.retriever.search(question, top_k)
        assert [h.passage.id for h in result.hits] == [h.passage.id for h in alone]
