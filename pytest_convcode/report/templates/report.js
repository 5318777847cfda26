// The report's behaviour: the problems table (filtered and searched over every row, drawn a page
// at a time) and a problem's turns, unpacked from their gzip+base64 blob only when opened.
// Everything from the run is put in the page with textContent: model output never becomes markup.
(function () {
  "use strict";

  const index = JSON.parse(document.getElementById("index").textContent);
  const C = {};
  index.columns.forEach(function (name, i) { C[name] = i; });
  const rows = index.rows;
  const lowerIds = rows.map(function (row) { return row[C.id].toLowerCase(); });
  const state = { status: "", setting: "", suite: "", flip: "", search: "", page: 0 };
  let filtered = rows;
  let opened = 0; // the latest open request: an older one that resolves late is dropped

  function $(id) { return document.getElementById(id); }

  // A new element; `props` sets properties (className, textContent, dataset via "data-*" keys).
  function el(tag, props) {
    const node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      if (key.startsWith("data-")) node.setAttribute(key, props[key]);
      else node[key] = props[key];
    });
    for (let i = 2; i < arguments.length; i++) {
      const child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  // ------------------------------------------------------------ the table

  function matches(row, i, query) {
    if (state.status && row[C.status] !== state.status) return false;
    if (state.setting && row[C.setting] !== state.setting) return false;
    if (state.suite && row[C.suite] !== state.suite) return false;
    if (state.flip === "any" ? row[C.flip] === "" : state.flip && row[C.flip] !== state.flip) return false;
    return !query || lowerIds[i].includes(query);
  }

  function applyFilters() {
    const query = state.search.trim().toLowerCase();
    filtered = rows.filter(function (row, i) { return matches(row, i, query); });
    state.page = 0;
    draw();
  }

  function rowElement(row) {
    const task = row[C.sample] !== null && row[C.id].includes("#") ? row[C.task] + " #" + row[C.sample] : row[C.task];
    const tr = el("tr", { className: "problem", tabIndex: 0, "data-id": row[C.id], "data-status": row[C.status] },
      el("td", { className: "id", textContent: task }),
      el("td", { textContent: row[C.suite] }),
      el("td", { textContent: row[C.setting] }),
      el("td", {}, el("span", { className: "status " + row[C.status], textContent: row[C.label] })),
      el("td", { className: "num", textContent: String(row[C.turns]) }));
    if (index.compared) {
      const flip = row[C.flip];
      tr.append(el("td", { className: "flip " + flip.replace(" ", "-"), textContent: flip ? (flip === "now passing" ? "▲ " : "▼ ") + flip : "" }));
    }
    tr.addEventListener("click", function () { openProblem(row, tr); });
    tr.addEventListener("keydown", function (event) { if (event.key === "Enter") openProblem(row, tr); });
    return tr;
  }

  function draw() {
    const size = index.pageSize;
    const pages = Math.max(1, Math.ceil(filtered.length / size));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * size;
    const shown = filtered.slice(start, start + size);
    const body = $("problems").tBodies[0];
    if (shown.length) body.replaceChildren.apply(body, shown.map(rowElement));
    else body.replaceChildren(el("tr", { className: "none" }, el("td", { colSpan: 6, className: "muted", textContent: "No problem matches." })));
    $("count").textContent = filtered.length + " of " + rows.length + " problems";
    $("page-info").textContent = filtered.length ? (start + 1) + "–" + (start + shown.length) + " (page " + (state.page + 1) + " of " + pages + ")" : "";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  function bind(id, key, event) {
    const node = $(id);
    if (!node) return;
    node.addEventListener(event, function () { state[key] = node.value; applyFilters(); });
  }
  bind("filter-status", "status", "change");
  bind("filter-setting", "setting", "change");
  bind("filter-suite", "suite", "change");
  bind("filter-flip", "flip", "change");
  bind("search", "search", "input");
  $("prev").addEventListener("click", function () { state.page -= 1; draw(); });
  $("next").addEventListener("click", function () { state.page += 1; draw(); });
  document.querySelectorAll("button.flip-link").forEach(function (button) {
    button.addEventListener("click", function () {
      ["filter-status", "filter-setting", "filter-suite", "filter-flip"].forEach(function (id) { if ($(id)) $(id).value = ""; });
      Object.assign(state, { status: "", setting: "", suite: "", flip: "", search: button.dataset.key });
      $("search").value = button.dataset.key;
      applyFilters();
      $("problems").scrollIntoView({ block: "start" });
    });
  });

  // ------------------------------------------------------------ a problem's turns

  const blobs = new Map();

  function parsed() {
    // The blobs follow this script: wait for the parser to reach the end when a row is opened early.
    if (document.readyState !== "loading") return Promise.resolve();
    return new Promise(function (resolve) { document.addEventListener("DOMContentLoaded", resolve, { once: true }); });
  }

  async function loadBlob(i) {
    if (blobs.has(i)) return blobs.get(i);
    await parsed();
    const node = $("blob-" + i);
    if (!node) throw new Error("the page has no data for this problem (blob " + i + ")");
    if (typeof DecompressionStream === "undefined") throw new Error("this browser lacks DecompressionStream: open the report in a current Chrome, Firefox or Safari");
    const text = atob(node.textContent.trim());
    const bytes = new Uint8Array(text.length);
    for (let k = 0; k < text.length; k++) bytes[k] = text.charCodeAt(k);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    const payload = JSON.parse(await new Response(stream).text());
    if (blobs.size > 16) blobs.delete(blobs.keys().next().value);
    blobs.set(i, payload);
    return payload;
  }

  async function openProblem(row, tr) {
    const ticket = ++opened;
    document.querySelectorAll("tr.problem.selected").forEach(function (node) { node.classList.remove("selected"); });
    if (tr) tr.classList.add("selected");
    const detail = $("detail");
    detail.hidden = false;
    detail.dataset.id = row[C.id];
    detail.dataset.loaded = "";
    $("detail-title").textContent = row[C.id];
    $("detail-status").replaceChildren(el("span", { className: "status " + row[C.status], textContent: row[C.label] }),
      row[C.flip] ? " · " + row[C.flip] + " against the baseline" : "");
    const body = $("detail-body");
    body.replaceChildren(el("p", { className: "muted", textContent: "unpacking…" }));
    detail.scrollTop = 0;
    try {
      const payload = await loadBlob(row[C.blob]);
      if (ticket !== opened) return;
      const turns = payload.rows[row[C.id]] || [];
      body.replaceChildren.apply(body, turns.length ? turns.map(function (turn) { return turnElement(turn, payload.programs); })
        : [el("p", { className: "muted", textContent: "No turn ran (every item of this problem errored before its code was tested)." })]);
      detail.dataset.loaded = "1";
    } catch (error) {
      if (ticket !== opened) return;
      body.replaceChildren(el("p", { className: "status error", textContent: "Cannot show this problem: " + error.message }));
    }
    if (history.replaceState) history.replaceState(null, "", "#problem=" + encodeURIComponent(row[C.id]));
  }

  function pre(text, className) {
    return el("pre", { className: className || "text", textContent: text });
  }

  function diffElement(diff) {
    const out = el("pre", { className: "diff" });
    let added = 0;
    let removed = 0;
    diff.split("\n").forEach(function (line) {
      let kind = "ctx";
      if (line.startsWith("+++") || line.startsWith("---")) kind = "head";
      else if (line.startsWith("@@")) kind = "hunk";
      else if (line.startsWith("+")) { kind = "add"; added++; }
      else if (line.startsWith("-")) { kind = "del"; removed++; }
      out.append(el("span", { className: kind, textContent: line || " " }));
    });
    return { node: out, added: added, removed: removed };
  }

  function usageText(turn) {
    const parts = [];
    const usage = turn.usage || {};
    if (usage.prompt_tokens !== undefined) parts.push(usage.prompt_tokens + " prompt tokens");
    if (usage.completion_tokens !== undefined) parts.push(usage.completion_tokens + " completion tokens");
    if (typeof turn.latency_s === "number" && turn.latency_s >= 0.05) parts.push(turn.latency_s.toFixed(1) + " s");
    if (turn.cached) parts.push("from the cache");
    return parts.join(" · ");
  }

  function feedbackElement(feedback) {
    const box = el("section", { className: "feedback" }, el("h4", { textContent: "Feedback this turn answered" }));
    if (feedback.compilation !== undefined) box.append(el("div", {}, "compilation:"), pre(feedback.compilation, "text fb-compilation"));
    if (feedback.execution !== undefined) {
      const shown = feedback.tests_shown && feedback.tests_shown.length ? " (tests shown: " + feedback.tests_shown.join(", ") + ")" : "";
      box.append(el("div", {}, "execution" + shown + ":"), pre(feedback.execution || "(none)", "text fb-execution"));
    }
    if (feedback.user !== undefined) {
      box.append(el("div", {}, "simulated user:"));
      if (feedback.user_asked === false) box.append(el("p", { className: "muted", textContent: "not asked (nothing visible failed)" }));
      else box.append(pre(feedback.user, "text fb-user"));
      if (feedback.leaked) {
        box.append(el("div", { className: "leak", textContent: "leaked: this user feedback shares a run of code with the ground truth" }));
        (feedback.leak_ngrams || []).forEach(function (gram) { box.append(pre(Array.isArray(gram) ? gram.join(" ") : String(gram), "text leak-ngram")); });
      }
      if (feedback.user_raw && feedback.user_raw !== feedback.user) {
        box.append(el("details", {}, el("summary", { textContent: "the simulator's whole reply (before the code fence cut)" }), pre(feedback.user_raw, "text fb-user-raw")));
      }
    }
    return box;
  }

  function resultElement(turn) {
    const box = el("section", { className: "result" }, el("h4", { textContent: "Execution result" }));
    if (turn.error) box.append(el("p", { textContent: "The item errored (harness trouble, not the model's answer):" }), pre(turn.error, "text error"));
    if (turn.run_error) box.append(el("p", { textContent: "The program did not run:" }), pre(turn.run_error, "text run-error"));
    if (turn.prediction !== undefined) box.append(el("div", {}, "the model's prediction:"), pre(turn.prediction, "text prediction"));
    if (turn.failure) box.append(pre(turn.failure, "text failure"));
    Object.keys(turn.phases || {}).forEach(function (name) {
      const phase = turn.phases[name];
      box.append(el("div", {}, el("strong", { textContent: name + ": " }),
        (phase.passed ? "passed" : "failed") + ", " + phase.n_passed + " of " + phase.n + " tests passed"),
      el("div", { className: "statuses", textContent: phase.tests || "" }));
    });
    if (Object.keys(turn.phases || {}).length) box.append(el("div", { className: "muted", textContent: "one letter a test: . passed, F failed, E error, T time-out, - not run" }));
    const names = Object.keys(turn.tests || {});
    if (names.length) {
      box.append(el("ul", { className: "tests" }, ...names.map(function (name) {
        const status = turn.tests[name];
        return el("li", { className: status }, (status === "passed" ? "✓ " : status === "failed" || status === "error" ? "✗ " : "· ") + name + ": " + status);
      })));
    }
    if (!turn.error && !turn.run_error && !turn.failure && turn.prediction === undefined && !names.length && !Object.keys(turn.phases || {}).length) {
      box.append(el("p", { className: "muted", textContent: turn.status === "passed" ? "passed" : turn.status }));
    }
    return box;
  }

  function turnElement(turn, programs) {
    const program = typeof turn.program === "number" ? programs[turn.program] : turn.program;
    const meta = usageText(turn);
    const article = el("article", { className: "turn " + turn.status, "data-turn": String(turn.turn) },
      el("h3", {}, "Turn " + turn.turn + " · ", el("span", { className: "status " + turn.status, textContent: turn.status }),
        meta ? el("span", { className: "turn-meta", textContent: meta }) : null));
    if (turn.reference) article.append(el("div", { className: "reference", textContent: turn.reference }));
    if (turn.feedback) article.append(feedbackElement(turn.feedback));
    if (turn.leaked && !(turn.feedback && turn.feedback.leaked)) {
      article.append(el("div", { className: "leak", textContent: "leaked: the user feedback this turn answered shares a run of code with the ground truth" }));
    }
    article.append(resultElement(turn));
    let diffShown = false;
    if (typeof turn.diff === "string") {
      const diff = diffElement(turn.diff);
      const label = turn.diff ? "diff against turn " + turn.diff_from + " (+" + diff.added + " −" + diff.removed + ")" : "same program as turn " + turn.diff_from;
      const block = el("details", { className: "diff-block", open: !!turn.diff }, el("summary", { textContent: label }));
      if (turn.diff) block.append(diff.node);
      article.append(block);
      diffShown = !!turn.diff;
    }
    if (program !== undefined && program !== null) {
      const lines = program ? program.split("\n").length : 0;
      article.append(el("details", { className: "code-block", open: !diffShown },
        el("summary", { textContent: program ? "program (" + lines + " lines)" : "no program: the reply held no code" }),
        program ? pre(program, "code") : null));
    }
    if (turn.reply !== undefined) {
      article.append(el("details", { className: "reply-block", open: !program }, el("summary", { textContent: "the model's reply" }), pre(turn.reply, "text reply")));
    }
    return article;
  }

  function closeDetail() {
    $("detail").hidden = true;
    document.querySelectorAll("tr.problem.selected").forEach(function (node) { node.classList.remove("selected"); });
    if (history.replaceState) history.replaceState(null, "", location.pathname + location.search);
  }
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", function (event) { if (event.key === "Escape") closeDetail(); });

  draw();
  const wanted = /^#problem=(.+)$/.exec(location.hash);
  if (wanted) {
    const id = decodeURIComponent(wanted[1]);
    const row = rows.find(function (r) { return r[C.id] === id; });
    if (row) openProblem(row, null);
  }
  // when the table became usable, in ms from navigation start (bench/report_scale.py reads it)
  document.documentElement.dataset.readyMs = String(Math.round(performance.now()));
})();
