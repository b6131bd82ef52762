"""The search page at ``/``, used as a person would: real server, headless Chromium, keyboard, back button.

Needs Debian's ``chromium`` (``make browser`` installs it); a missing browser fails these tests, never skips.
Playwright drives it through ``executable_path``: no browser download at test time.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest

from service.server_process import running_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_TIMEOUT_S = 120  # loads the copied index; the model is already materialised by the session's index
WAIT_MS = 30_000  # a query embeds the question on CPU: well under a second, but CI machines are slow

QUESTION_EN = "Why would Meta adopt Google's TPUs?"
QUESTION_JA = "メタがTPUを導入する理由は？"
QUESTION_OTHER = "HPEとAMDが発表したHeliosとは何ですか？"
META_TPU_ARTICLE = "002_214864c1432d6946"
META_TPU_TITLE = re.compile(r"^メタがGoogle TPUを採用")


@pytest.fixture(scope="module", autouse=True)
def _browser_installed() -> None:
    """Fail (never skip) before starting anything when the browser or its driver is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium), then re-run.")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("the playwright package is missing: pip install -e '.[test]' (or run `make test`).")


@pytest.fixture(scope="module")
def server(built_index, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ragqa serve` on a free port over a copy of the session's corpus and index; yields its URL.

    A server that builds its first index at start-up, as a fresh `make serve` does, is tested on small corpora in
    test_health.py and test_encoder_serving.py; the full corpus is built by the session's ``built_index``.
    """
    _, corpus_dir, index_dir, _ = built_index
    root = tmp_path_factory.mktemp("page")
    shutil.copytree(corpus_dir, root / "posts")
    shutil.copytree(index_dir, root / "index")
    with running_server(root / "posts", root / "index", log_path=root / "server.log") as running:
        running.wait_ready(READY_TIMEOUT_S)
        yield running.base


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _open(browser, width: int = 1200, height: int = 900):
    context = browser.new_context(viewport={"width": width, "height": height}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The server's Content-Security-Policy allows nothing inline or from elsewhere: a violation is a bug.
    page.on("console", lambda msg: "Content Security Policy" in msg.text and errors.append(msg.text))
    return context, page, errors


@pytest.fixture
def page(browser):
    """A fresh desktop-sized tab; fails the test if the page's script threw."""
    context, tab, errors = _open(browser)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


def _search_box(page):
    return page.get_by_role("searchbox", name=re.compile("質問"))


def _expect_results(page, question: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#results")).to_have_attribute("data-question", question, timeout=WAIT_MS)
    expect(page.locator("body")).to_have_attribute("data-state", "results", timeout=WAIT_MS)
    expect(page.locator("#passages > li").first).to_be_visible()


def _q_param(url: str) -> str | None:
    return parse_qs(urlsplit(url).query).get("q", [None])[0]


def test_question_answered_with_citations(server: str, page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/")
    box = _search_box(page)
    expect(box).to_be_focused()  # type straight away, keyboard only
    page.keyboard.type(QUESTION_EN)
    page.keyboard.press("Enter")
    _expect_results(page, QUESTION_EN)

    first = page.locator("#passages > li").first
    expect(first).to_have_attribute("data-article-id", META_TPU_ARTICLE)
    expect(first.locator("h3")).to_have_text(META_TPU_TITLE)
    expect(first.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    expect(first.locator(".rank")).to_have_text("1")
    mark = first.locator(".passage-text mark")
    expect(mark).to_have_count(1)
    assert mark.inner_text().strip() in first.locator(".passage-text").inner_text()

    cites = page.locator("#answer a.cite")
    expect(cites.first).to_have_text(re.compile(r"^\[\d+\]$"))
    href = cites.first.get_attribute("href")
    assert href and re.fullmatch(r"#passage-\d+", href)
    expect(page.locator(href)).to_have_count(1)

    assert _q_param(page.url) == QUESTION_EN, page.url
    page.screenshot(path=tmp_path / "answer.png", full_page=True)
    assert (tmp_path / "answer.png").stat().st_size > 10_000

    # The passage's JSON link is the API's own record of it.
    link = first.locator("a.json-link")
    expect(link).to_have_text("JSON")
    response = page.request.get(urljoin(page.url, link.get_attribute("href")))
    assert response.ok, response.status
    assert response.json()["id"] == first.get_attribute("data-id")

    # A citation takes keyboard focus to its passage.
    cites.first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))
    expect(page.locator(href)).to_be_focused()


def test_off_topic_question_says_no_answer_and_lists_the_closest_passages(server: str, page) -> None:
    from playwright.sync_api import expect

    question = "美味しいカレーの作り方を教えて"
    page.goto(f"{server}/")
    page.keyboard.type(question)
    page.keyboard.press("Enter")
    _expect_results(page, question)
    expect(page.locator("#answer")).to_contain_text("No answer in these articles")
    expect(page.locator("#answer a.cite")).to_have_count(0)
    expect(page.locator("#passages > li")).to_have_count(5)


@pytest.mark.parametrize("typed", ["", "   "])
def test_empty_question_shows_friendly_error(server: str, page, typed: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/")
    box = _search_box(page)
    box.fill(typed)
    box.press("Enter")
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("質問を入力してください")
    text = error.inner_text()
    assert "{" not in text and "}" not in text and "detail" not in text, text
    expect(page.locator("#results")).to_be_hidden()
    assert "?q=" not in page.url


def test_overlong_question_shows_the_api_rejection(server: str, page) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/")
    box = _search_box(page)
    box.fill("TPU " * 300)  # 1,200 characters: over the API's 1,000
    with page.expect_response(lambda r: urlsplit(r.url).path == "/query") as answered:
        box.press("Enter")
    assert answered.value.status == 422
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("長すぎ")
    text = error.inner_text()
    assert "{" not in text and "}" not in text and '"detail"' not in text, text
    expect(page.locator("#results")).to_be_hidden()


def test_query_in_url_loads_and_back_restores(server: str, page) -> None:
    from playwright.sync_api import expect

    page.goto(f"{server}/?q={quote(QUESTION_JA)}")
    _expect_results(page, QUESTION_JA)
    box = _search_box(page)
    expect(box).to_have_value(QUESTION_JA)
    expect(page.locator("#passages > li").first).to_have_attribute("data-article-id", META_TPU_ARTICLE)

    box.fill(QUESTION_OTHER)
    box.press("Enter")
    _expect_results(page, QUESTION_OTHER)
    assert _q_param(page.url) == QUESTION_OTHER

    page.go_back()
    _expect_results(page, QUESTION_JA)
    expect(box).to_have_value(QUESTION_JA)
    assert _q_param(page.url) == QUESTION_JA
    expect(page.locator("#passages > li").first).to_have_attribute("data-article-id", META_TPU_ARTICLE)

    page.go_forward()
    _expect_results(page, QUESTION_OTHER)
    expect(box).to_have_value(QUESTION_OTHER)


def test_phone_width_has_no_horizontal_scroll(server: str, browser, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    context, page, errors = _open(browser, width=375, height=812)
    try:
        page.goto(f"{server}/?q={quote(QUESTION_JA)}")
        _expect_results(page, QUESTION_JA)
        widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert widths[0] <= widths[1], f"page is {widths[0]}px wide in a {widths[1]}px viewport"
        for locator in (_search_box(page), page.locator("#submit"), page.locator("#passages > li").first):
            expect(locator).to_be_visible()
            box = locator.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 375, box
        page.screenshot(path=tmp_path / "phone.png", full_page=True)
    finally:
        context.close()
    assert not errors, f"JavaScript errors or CSP violations on the page: {errors}"


HELIOS_ARTICLE = "004_8914f1a2936a845c"
FOXCONN_ARTICLE = "001_ef0b94e0c9148836"


def _articles_shown(page) -> set[str]:
    return {li.get_attribute("data-article-id") for li in page.locator("#passages > li").all()}


def _params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _set_date(page, selector: str, value: str, announce: bool = True) -> None:
    """Type a date as a picker would leave it, then (if ``announce``) fire the one "change" the page reacts to."""
    page.locator(selector).evaluate("(el, value) => { el.value = value; }", value)
    if announce:
        page.locator(selector).dispatch_event("change")


def test_filter_bar_narrows_the_answer_updates_the_url_and_survives_reload(server: str, page) -> None:
    from playwright.sync_api import expect

    # A link with a filter: the Meta question answered only from the Helios post.
    page.goto(f"{server}/?q={quote(QUESTION_JA)}&article={HELIOS_ARTICLE}")
    _expect_results(page, QUESTION_JA)
    expect(page.locator("#f-article")).to_have_value(HELIOS_ARTICLE)
    expect(page.locator("#passages > li")).to_have_count(5, timeout=WAIT_MS)
    assert _articles_shown(page) == {HELIOS_ARTICLE}

    # The bar offers the facets; choosing a category re-asks and is written into the URL.
    page.locator("#f-article").select_option("")
    expect(page.locator("#f-category option[value='AI導入戦略']")).to_have_count(1)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/query"):
        page.locator("#f-category").select_option("AI導入戦略")
    expect(page).to_have_url(re.compile(r"category="), timeout=WAIT_MS)
    _expect_results(page, QUESTION_JA)
    expect(page.locator("#passages > li").first).to_have_attribute("data-article-id", FOXCONN_ARTICLE, timeout=WAIT_MS)
    assert _articles_shown(page) == {FOXCONN_ARTICLE}
    params = _params(page.url)
    assert params["q"] == [QUESTION_JA] and params["category"] == ["AI導入戦略"] and "article" not in params

    # Reload: the same question, filter and answer.
    page.reload()
    _expect_results(page, QUESTION_JA)
    expect(page.locator("#f-category")).to_have_value("AI導入戦略")
    expect(page.locator("#passages > li").first).to_have_attribute("data-article-id", FOXCONN_ARTICLE, timeout=WAIT_MS)

    # A date range no post falls in: no passages, and a message that says why.
    _set_date(page, "#f-since", "2030-01-01")
    expect(page).to_have_url(re.compile(r"since=2030-01-01"))
    expect(page.locator("body")).to_have_attribute("data-state", "results", timeout=WAIT_MS)
    expect(page.locator("#passages > li")).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("#answer")).to_contain_text("絞り込みに合う記事が見つかりませんでした")

    # Back restores the previous filters and their answer.
    page.go_back()
    expect(page.locator("#f-since")).to_have_value("")
    expect(page.locator("#passages > li").first).to_have_attribute("data-article-id", FOXCONN_ARTICLE, timeout=WAIT_MS)

    # An impossible range (since after until) is the API's 422, worded as a date problem.
    _set_date(page, "#f-until", "2025-01-01", announce=False)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/query") as answered:
        _set_date(page, "#f-since", "2025-12-31")
    assert answered.value.status == 422
    expect(page.locator("#error")).to_contain_text("日付", timeout=WAIT_MS)

    # Clearing the filters asks again over every post.
    page.locator("#f-clear").click()
    _expect_results(page, QUESTION_JA)
    expect(page.locator("#passages > li").first).to_have_attribute("data-article-id", META_TPU_ARTICLE, timeout=WAIT_MS)
    assert set(_params(page.url)) == {"q"}
