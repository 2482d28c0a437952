// The lambdakit console: reads serve's JSON under ./api/ and listens for invocations as they
// end (server-sent events). No framework, no build step.
"use strict";

const PAGE = 100;
const api = (path) => new URL("api/" + path, document.baseURI).toString();
const $ = (id) => document.getElementById(id);

const state = {
  before: null, // null: the newest page, which live invocations join
  history: [], // the `before` of each page left for an older one
  rows: [],
  selected: null,
  lastNumber: 0,
};

function text(tag, content, className) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
}

async function getJson(path, options) {
  const response = await fetch(api(path), options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || response.status + " " + response.statusText);
  return body;
}

function ms(value) {
  return value == null ? "" : value.toFixed(value < 10 ? 2 : 0) + " ms";
}

function cost(usd) {
  return usd == null ? "" : "$" + (usd * 1e6).toFixed(2) + "/M";
}

function outcome(row) {
  return row.outcome === "error" ? "Error: " + (row.error_type || "unknown") : "OK";
}

async function loadFunctions() {
  const { functions } = await getJson("functions");
  const body = $("functions").tBodies[0];
  body.replaceChildren();
  const select = $("invoke-function");
  const chosen = select.value;
  select.replaceChildren();
  for (const fn of functions) {
    const row = document.createElement("tr");
    row.append(text("th", fn.name));
    row.firstChild.scope = "row";
    row.append(text("td", fn.memory_mb + " MB"));
    row.append(text("td", fn.timeout_s + " s"));
    const per = fn.per_instance ? " (" + fn.per_instance + " at once each)" : "";
    row.append(text("td", fn.instances.idle + " warm, " + fn.instances.busy + " busy of " + fn.concurrency + per));
    row.append(text("td", String(fn.in_flight)));
    row.append(text("td", String(fn.queued)));
    const http = document.createElement("td");
    const link = text("a", fn.url);
    link.href = new URL(fn.url.replace(/^\//, ""), new URL("..", document.baseURI)).toString();
    http.append(link);
    if (fn.routes.length) http.append(text("span", " · " + fn.routes.join(", ")));
    row.append(http);
    body.append(row);
    const option = text("option", fn.name);
    option.value = fn.name;
    select.append(option);
  }
  if (chosen) select.value = chosen;
}

async function loadKinds() {
  const { kinds } = await getJson("events");
  const select = $("invoke-kind");
  for (const kind of kinds) {
    const option = text("option", kind);
    option.value = kind;
    select.append(option);
  }
}

function renderRows() {
  const body = $("invocations").tBodies[0];
  body.replaceChildren();
  for (const row of state.rows) {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.dataset.requestId = row.request_id;
    tr.setAttribute("aria-selected", String(row.request_id === state.selected));
    tr.append(text("td", new Date(row.started).toLocaleTimeString()));
    tr.append(text("td", row.function));
    tr.append(text("td", row.trigger));
    tr.append(text("td", row.cold ? "cold (" + ms(row.init_ms) + ")" : "warm", row.cold ? "cold" : ""));
    tr.append(text("td", ms(row.duration_ms)));
    tr.append(text("td", row.billed_ms + " ms"));
    tr.append(text("td", row.max_memory_mb + " / " + row.memory_mb + " MB"));
    tr.append(text("td", cost(row.cost_usd)));
    tr.append(text("td", outcome(row), "outcome-" + row.outcome));
    tr.append(text("td", row.request_id, "id"));
    tr.addEventListener("click", () => openDetail(row.request_id));
    tr.addEventListener("keydown", (event) => onRowKey(event, tr));
    body.append(tr);
  }
  $("newer").disabled = state.before === null;
  $("older").disabled = state.rows.length < PAGE;
  $("page-label").textContent = state.before === null ? "newest" : "before #" + state.before;
}

function onRowKey(event, tr) {
  if (event.key === "Enter" || event.key === " ") {
    event.preventDefault();
    openDetail(tr.dataset.requestId);
  } else if (event.key === "ArrowDown" && tr.nextElementSibling) {
    event.preventDefault();
    tr.nextElementSibling.focus();
  } else if (event.key === "ArrowUp" && tr.previousElementSibling) {
    event.preventDefault();
    tr.previousElementSibling.focus();
  }
}

async function loadPage() {
  const query = "invocations?limit=" + PAGE + (state.before === null ? "" : "&before=" + state.before);
  const { invocations, kept } = await getJson(query);
  state.rows = invocations;
  if (state.before === null && invocations.length) state.lastNumber = invocations[0].number;
  $("kept").textContent = "(" + kept + " kept)";
  renderRows();
}

function live() {
  const events = new EventSource(api("live"));
  events.addEventListener("open", () => { $("status").textContent = "live"; });
  events.addEventListener("error", () => { $("status").textContent = "reconnecting…"; });
  events.addEventListener("invocation", (message) => {
    const row = JSON.parse(message.data);
    state.lastNumber = Math.max(state.lastNumber, row.number);
    if (state.before === null) {
      state.rows.unshift(row);
      if (state.rows.length > PAGE) state.rows.length = PAGE;
      renderRows();
    }
    loadFunctions().catch(() => {});
  });
  events.addEventListener("missed", () => { if (state.before === null) loadPage(); });
}

async function openDetail(requestId) {
  state.selected = requestId;
  for (const tr of $("invocations").tBodies[0].rows) {
    tr.setAttribute("aria-selected", String(tr.dataset.requestId === requestId));
  }
  const detail = await getJson("invocations/" + encodeURIComponent(requestId));
  const section = $("detail");
  section.hidden = false;
  $("detail-title").textContent = "Invocation " + detail.request_id;
  const summary = $("detail-summary");
  summary.replaceChildren();
  const fields = [
    ["Function", detail.function + " (" + detail.version + ")"],
    ["Trigger", detail.trigger],
    ["Outcome", outcome(detail)],
    ["Start", detail.cold ? "cold, init " + ms(detail.init_ms) : "warm"],
    ["Duration", ms(detail.duration_ms)],
    ["Billed", detail.billed_ms + " ms"],
    ["Memory", detail.max_memory_mb + " MB used of " + detail.memory_mb + " MB"],
    ["Estimated cost", detail.cost_usd == null ? "not estimated" : "$" + detail.cost_usd.toFixed(10)],
    ["Trace", detail.trace_id || "not sampled"],
  ];
  for (const [name, value] of fields) {
    summary.append(text("dt", name), text("dd", value));
  }
  const show = (value) => typeof value === "string" ? value : JSON.stringify(value, null, 2);
  $("detail-event").textContent = show(detail.event);
  $("detail-answer-title").textContent = detail.outcome === "error" ? "Error" : "Answer";
  $("detail-answer").textContent = show(detail.answer);
  $("detail-logs").textContent = detail.logs;
  await showTrace(detail.trace_id);
  section.scrollIntoView({ block: "nearest" });
}

async function showTrace(traceId) {
  const section = $("trace");
  const list = $("waterfall");
  list.replaceChildren();
  if (!traceId) {
    section.hidden = true;
    return;
  }
  let trace;
  try {
    trace = await getJson("traces/" + encodeURIComponent(traceId));
  } catch (error) {
    section.hidden = false;
    list.append(text("li", "trace not available: " + error.message));
    return;
  }
  section.hidden = false;
  const start = Math.min(...trace.spans.map((span) => span.start_time));
  const end = Math.max(...trace.spans.map((span) => span.end_time || span.start_time));
  const total = Math.max(end - start, 1e-6);
  const depth = new Map();
  for (const span of trace.spans) {
    depth.set(span.span_id, span.parent_id && depth.has(span.parent_id) ? depth.get(span.parent_id) + 1 : 0);
    const item = document.createElement("li");
    const took = span.end_time == null ? "in progress" : ms((span.end_time - span.start_time) * 1000);
    const label = span.name + (span.request_id ? " [" + span.request_id + "]" : "") + " — " + took + (span.error ? " — error: " + span.error : "");
    const name = text("span", label, "span-name");
    name.style.paddingLeft = depth.get(span.span_id) + "rem";
    name.title = label;
    const track = document.createElement("span");
    track.className = "track";
    const bar = document.createElement("span");
    bar.className = span.error ? "bar failed" : "bar";
    bar.style.left = ((span.start_time - start) / total) * 100 + "%";
    bar.style.width = (((span.end_time || end) - span.start_time) / total) * 100 + "%";
    track.append(bar);
    item.append(name, track);
    list.append(item);
  }
}

async function invoke(event) {
  event.preventDefault();
  const result = $("invoke-result");
  const request = { function: $("invoke-function").value };
  const kind = $("invoke-kind").value;
  if (kind) {
    request.event = kind;
  } else {
    try {
      request.payload = JSON.parse($("invoke-payload").value);
    } catch (error) {
      result.textContent = "The payload is not JSON: " + error.message;
      return;
    }
  }
  result.textContent = "invoking " + request.function + "…";
  try {
    const detail = await getJson("invoke", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    result.textContent = request.function + ": " + outcome(detail) + " in " + ms(detail.duration_ms);
    await openDetail(detail.request_id);
  } catch (error) {
    result.textContent = "Not invoked: " + error.message;
  }
}

function start() {
  $("invoke").addEventListener("submit", invoke);
  $("older").addEventListener("click", () => {
    if (!state.rows.length) return;
    state.history.push(state.before);
    state.before = state.rows[state.rows.length - 1].number;
    loadPage();
  });
  $("newer").addEventListener("click", () => {
    state.before = state.history.length ? state.history.pop() : null;
    loadPage();
  });
  Promise.all([loadFunctions(), loadKinds(), loadPage()])
    .then(live)
    .catch((error) => { $("status").textContent = "cannot read serve: " + error.message; });
}

start();
