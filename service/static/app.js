// The ragqa search page: asks POST /query (narrowed by the filter bar) and renders the cited answer.
// The question and the filters live in the URL (?q=…&article=…&since=…&until=…&category=…&tag=…).
// API text is data: the DOM is built with createElement/textContent only, never innerHTML.
(() => {
  "use strict";

  const TOP_K = 5;
  const MAX_CHARS = 1000; // the API's limit: only words the message once the API has rejected a question

  const form = document.getElementById("search-form");
  const input = document.getElementById("q");
  const statusBox = document.getElementById("status");
  const errorBox = document.getElementById("error");
  const results = document.getElementById("results");
  const answerEl = document.getElementById("answer");
  const list = document.getElementById("passages");
  const filterBar = document.getElementById("filters");
  const controls = {
    article: document.getElementById("f-article"),
    since: document.getElementById("f-since"),
    until: document.getElementById("f-until"),
    category: document.getElementById("f-category"),
    tag: document.getElementById("f-tag"),
  };
  const FILTER_KEYS = Object.keys(controls);

  let controller = null; // aborts the request in flight when a newer question is asked
  let current = null; // the search (question + filters, as a URL query) being shown or loaded

  const el = (tag, props = {}, children = []) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "datetime" || key === "lang") {
        node.setAttribute(key, value);
      } else node[key] = value;
    }
    node.append(...children);
    return node;
  };

  const setState = (state) => {
    document.body.dataset.state = state;
    results.setAttribute("aria-busy", String(state === "loading"));
  };

  const questionFromUrl = () => new URLSearchParams(window.location.search).get("q") ?? "";

  // ---- filters ----------------------------------------------------------------------------------

  const filtersFromUrl = () => {
    const params = new URLSearchParams(window.location.search);
    return Object.fromEntries(FILTER_KEYS.map((key) => [key, params.get(key) ?? ""]));
  };

  const readFilters = () => Object.fromEntries(FILTER_KEYS.map((key) => [key, controls[key].value]));

  const hasFilters = (filters) => FILTER_KEYS.some((key) => filters[key]);

  // A value the options do not offer (an old link, facets not loaded) is kept as an option of its own.
  const writeFilters = (filters) => {
    for (const key of FILTER_KEYS) {
      const control = controls[key];
      const value = filters[key] || "";
      if (control.tagName === "SELECT" && value && ![...control.options].some((o) => o.value === value)) {
        control.append(el("option", { value, text: value }));
      }
      control.value = value;
    }
  };

  // The filters as POST /query takes them.
  const apiFilters = (filters) => {
    const body = {};
    if (filters.article) body.article_ids = [filters.article];
    if (filters.since) body.since = filters.since;
    if (filters.until) body.until = filters.until;
    if (filters.category) body.categories = [filters.category];
    if (filters.tag) body.tags = [filters.tag];
    return body;
  };

  const fillSelect = (select, options) => {
    const [all] = select.options;
    select.replaceChildren(all, ...options.map(([value, text]) => el("option", { value, text })));
  };

  // The choices come from GET /facets; without them the bar still works with the values in the URL.
  const loadFacets = async () => {
    try {
      const response = await fetch("facets", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const facets = await response.json();
      fillSelect(
        controls.article,
        (facets.articles || []).map((a) => [a.id, `${a.title}（${formatDate(a.date)}）`]),
      );
      fillSelect(controls.category, (facets.categories || []).map((c) => [c.value, `${c.value} (${c.articles})`]));
      fillSelect(controls.tag, (facets.tags || []).map((t) => [t.value, `${t.value} (${t.articles})`]));
      for (const key of ["since", "until"]) {
        if (facets.first_date) controls[key].min = facets.first_date;
        if (facets.last_date) controls[key].max = facets.last_date;
      }
    } catch {
      // Offline or not ready: the bar keeps its "all" options.
    }
  };

  const urlFor = (question, filters = {}) => {
    const params = new URLSearchParams();
    if (question) params.set("q", question);
    for (const key of FILTER_KEYS) if (filters[key]) params.set(key, filters[key]);
    const query = params.toString();
    return window.location.pathname + (query ? `?${query}` : "");
  };

  const searchKey = (question, filters) => urlFor(question, filters);

  // ---- errors -----------------------------------------------------------------------------------

  // The API's {"detail": ...} as plain words: a string, or FastAPI's list of validation errors.
  const detailText = (body) => {
    const detail = body && typeof body === "object" ? body.detail : null;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((item) => (item && typeof item.msg === "string" ? item.msg : ""))
        .filter(Boolean)
        .join("; ");
    }
    return "";
  };

  const friendly = (status, body, question) => {
    const detail = detailText(body);
    const chars = [...question].length;
    if (status === 422 || status === 400) {
      if (/\b(since|until)\b/.test(detail)) {
        return { title: "絞り込みの日付を確認してください（開始日は終了日より前に）。", detail };
      }
      if (!question.trim()) return { title: "質問を入力してください。", detail: detail || "Please type a question." };
      if (chars > MAX_CHARS) {
        return {
          title: `質問が長すぎます（${chars.toLocaleString()}文字）。${MAX_CHARS.toLocaleString()}文字以内に短くしてください。`,
          detail,
        };
      }
      return { title: "この質問は受け付けられませんでした。内容を見直してください。", detail };
    }
    if (status === 503) {
      return { title: "検索の準備中です。少し待ってから、もう一度お試しください。", detail, retry: true };
    }
    if (status === 429) return { title: "リクエストが多すぎます。少し待ってからお試しください。", detail, retry: true };
    if (status >= 500) {
      return { title: `サーバーでエラーが起きました（HTTP ${status}）。もう一度お試しください。`, detail, retry: true };
    }
    return { title: `検索できませんでした（HTTP ${status}）。`, detail, retry: true };
  };

  const showError = ({ title, detail, retry }, question) => {
    const children = [el("p", { class: "error-title", text: title })];
    if (detail) children.push(el("p", { class: "error-detail", text: detail }));
    if (retry && question) {
      const button = el("button", { type: "button", class: "retry", text: "もう一度試す / Retry" });
      button.addEventListener("click", () => ask(question));
      children.push(button);
    }
    errorBox.replaceChildren(...children);
    errorBox.hidden = false;
    statusBox.textContent = "";
    setState("error");
  };

  const clearError = () => {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  };

  // ---- rendering --------------------------------------------------------------------------------

  const formatDate = (iso) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    return m ? `${m[1]}年${Number(m[2])}月${Number(m[3])}日` : iso || "";
  };

  // "... [1] ... [2]" with each [n] a link to the passage of rank n.
  const renderAnswer = (answer, byRank) => {
    const nodes = [];
    const parts = String(answer || "").split(/(\[\d+\])/);
    parts.forEach((raw, i) => {
      const m = /^\[(\d+)\]$/.exec(raw);
      const passage = m && byRank.get(Number(m[1]));
      // The marker's own margin separates it from the sentences around it.
      let part = raw;
      if (!m && i + 1 < parts.length) part = part.trimEnd();
      if (!m && i > 0) part = part.trimStart();
      if (passage) {
        nodes.push(
          el("a", {
            href: `#passage-${passage.rank}`,
            class: "cite",
            text: part,
            title: passage.title,
            "aria-label": `出典 ${passage.rank}: ${passage.title}`,
          }),
        );
      } else if (part) {
        nodes.push(document.createTextNode(part));
      }
    });
    return nodes;
  };

  // The passage text with the first occurrence of the answering sentence in <mark>.
  const renderText = (text, highlight) => {
    const at = highlight ? text.indexOf(highlight) : -1;
    if (at < 0) return [document.createTextNode(text)];
    return [
      document.createTextNode(text.slice(0, at)),
      el("mark", { text: highlight }),
      document.createTextNode(text.slice(at + highlight.length)),
    ];
  };

  const renderPassage = (p) => {
    const titleId = `passage-${p.rank}-title`;
    const meta = [el("time", { datetime: p.date, text: formatDate(p.date) })];
    if (p.section) meta.push(el("span", { class: "section", text: p.section }));
    meta.push(el("span", { class: "paragraph", text: `第${p.paragraph}段落` }));
    const score = typeof p.score === "number" ? `score ${p.score.toFixed(3)}` : "";
    return el(
      "li",
      {
        id: `passage-${p.rank}`,
        class: "passage",
        tabIndex: -1,
        "data-article-id": p.article_id,
        "data-id": p.id,
      },
      [
        el("article", { "aria-labelledby": titleId }, [
          el("header", { class: "passage-head" }, [
            el("span", { class: "rank", "aria-label": `${p.rank}位`, text: String(p.rank) }),
            el("div", { class: "passage-heading" }, [
              el("h3", { id: titleId, class: "passage-title", text: p.title }),
              el("p", { class: "meta" }, meta),
            ]),
          ]),
          el("p", { class: "passage-text" }, renderText(String(p.text || ""), p.highlight)),
          el("p", { class: "passage-foot" }, [
            el("span", { class: "article-id", text: p.article_id }),
            el("span", { class: "score", text: score }),
            el("a", {
              class: "json-link",
              href: `passages/${encodeURIComponent(p.id)}`,
              text: "JSON",
              "aria-label": `出典 ${p.rank} の JSON (${p.id})`,
            }),
          ]),
        ]),
      ],
    );
  };

  const render = (question, data) => {
    const passages = Array.isArray(data.passages) ? data.passages : [];
    const byRank = new Map(passages.map((p) => [p.rank, p]));
    if (passages.length && data.answer) {
      answerEl.replaceChildren(...renderAnswer(data.answer, byRank));
    } else if (!passages.length && hasFilters(readFilters())) {
      answerEl.replaceChildren(
        document.createTextNode("絞り込みに合う記事が見つかりませんでした。条件を広げてお試しください。"),
      );
    } else if (passages.length && data.answer === null) {
      // The ranking stage judged that no passage answers: say so, and still list the closest passages.
      answerEl.replaceChildren(
        document.createTextNode("No answer in these articles（この記事群には答えがありません）。近い箇所を下に示します。"),
      );
    } else {
      answerEl.replaceChildren(
        document.createTextNode("答えになりそうな箇所が見つかりませんでした。言い方を変えてお試しください。"),
      );
    }
    list.replaceChildren(...passages.map(renderPassage));
    results.dataset.question = question;
    results.hidden = false;
    const took = typeof data.took_ms === "number" ? `（${Math.round(data.took_ms)} ms）` : "";
    statusBox.textContent = `${passages.length}件の出典が見つかりました${took}`;
    setState("results");
  };

  // ---- asking -----------------------------------------------------------------------------------

  const ask = async (question) => {
    const filters = readFilters();
    current = searchKey(question, filters);
    if (controller) controller.abort();
    const mine = new AbortController();
    controller = mine;
    clearError();
    document.title = `${question.trim().slice(0, 60)} — ragqa`;
    statusBox.textContent = "検索中… / Searching…";
    setState("loading");
    try {
      const response = await fetch("query", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ question, top_k: TOP_K, filters: apiFilters(filters) }),
        signal: mine.signal,
      });
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null; // not JSON (a proxy's error page, say): the status code alone words the message
      }
      if (mine !== controller) return;
      if (!response.ok || !body) {
        hideResults(); // the results on screen answer another question than the one in the URL
        showError(friendly(response.ok ? 502 : response.status, body, question), question);
        return;
      }
      render(question, body);
    } catch (err) {
      if (err && err.name === "AbortError") return;
      if (mine !== controller) return;
      hideResults();
      showError(
        {
          title: "サーバーに接続できませんでした。接続を確認して、もう一度お試しください。",
          detail: "Could not reach the server.",
          retry: true,
        },
        question,
      );
    }
  };

  const showEmpty = () => {
    showError({ title: "質問を入力してください。", detail: "Please type a question, e.g. メタがTPUを導入する理由は？" });
    input.focus();
  };

  const hideResults = () => {
    results.hidden = true;
    delete results.dataset.question;
    list.replaceChildren();
    answerEl.replaceChildren();
  };

  // Back to the bare page: no question, no results.
  const reset = () => {
    if (controller) controller.abort();
    controller = null;
    current = "";
    clearError();
    hideResults();
    statusBox.textContent = "";
    document.title = "ragqa — 記事に質問する";
    setState("idle");
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = input.value;
    if (!question.trim()) {
      showEmpty();
      return;
    }
    const url = urlFor(question, readFilters());
    if (url !== window.location.pathname + window.location.search) history.pushState({ q: question }, "", url);
    ask(question);
  });

  // A changed filter re-asks the question on screen (and is kept in the URL even before one is asked).
  filterBar.addEventListener("change", () => {
    const question = current ? questionFromUrl() : "";
    const url = urlFor(question, readFilters());
    if (url === window.location.pathname + window.location.search) return; // e.g. "input" then "change"
    if (question.trim()) {
      history.pushState({ q: question }, "", url);
      ask(question);
    } else {
      history.replaceState(null, "", url);
    }
  });

  document.getElementById("f-clear").addEventListener("click", () => {
    writeFilters({});
    filterBar.dispatchEvent(new Event("change"));
  });

  // Back/forward: show the search in the URL (a change of #passage-n alone keeps the results).
  window.addEventListener("popstate", () => {
    const question = questionFromUrl();
    const filters = filtersFromUrl();
    if (searchKey(question, filters) === current) return;
    input.value = question;
    writeFilters(filters);
    if (question.trim()) ask(question);
    else reset();
  });

  // A citation link moves keyboard focus to its passage, not only the scroll position.
  window.addEventListener("hashchange", () => {
    const { hash } = window.location;
    const target = /^#passage-\d+$/.test(hash) && document.querySelector(hash);
    if (target) target.focus({ preventScroll: true });
  });

  // The filter choices load first, so the URL's filters can be shown as chosen before the question is asked.
  const start = async () => {
    const initial = questionFromUrl();
    input.value = initial;
    if (!initial.trim()) {
      current = "";
      setState("idle");
      input.focus();
    }
    await loadFacets();
    writeFilters(filtersFromUrl());
    filterBar.dataset.ready = "true";
    if (initial.trim() && current === null) ask(initial);
  };
  start();
})();
