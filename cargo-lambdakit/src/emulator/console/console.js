// The lambdakit console: reads serve's JSON under ./api/ and listens for invocations as they
// end (server-sent events). No framework, no build step.
"use strict";

const PAGE = 100;
const api = (path) => new URL("api/" + path, document.baseURI).toString();
const $ = (id) => document.getElementById(id);

// serve's token, when it asks for one: given once in the address (`#token=...`, which never
// reaches a server), kept for this tab, and sent with every request for data.
const token = (() => {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    sessionStorage.setItem("lambdakit-token", given);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem("lambdakit-token");
})();
const withToken = (headers) => (token ? { ...headers, "x-lambdakit-token": token } : headers);

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
  const response = await fetch(api(path), { ...options, headers: withToken(options && options.headers) });
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
    const starting = fn.instances.starting ? ", " + fn.instances.starting + " starting (cold)" : "";
    row.append(text("td", fn.instances.idle + " warm, " + fn.instances.busy + " busy" + starting + " of " + fn.concurrency + per));
    row.append(text("td", String(fn.in_flight)));
    row.append(text("td", String(fn.queued)));
    row.append(text("td", String(fn.failed_events)));
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
  const { kinds } = await getJson("event-kinds");
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

// Server-sent events, read through fetch (which can send the token, where EventSource cannot);
// read again after a second when the stream ends.
async function live() {
  for (;;) {
    try {
      const response = await fetch(api("live"), { headers: withToken({ accept: "text/event-stream" }) });
      if (!response.ok) throw new Error(response.status + " " + response.statusText);
      $("status").textContent = "live";
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        let end;
        while ((end = buffered.indexOf("\n\n")) >= 0) {
          const frame = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const kind = (frame.match(/^event: (.*)$/m) || [])[1];
          const data = (frame.match(/^data: (.*)$/m) || [])[1];
          if (kind === "invocation") onInvocation(JSON.parse(data));
          if (kind === "missed" && state.before === null) loadPage();
        }
      }
      $("status").textContent = "reconnecting…";
    } catch (error) {
      $("status").textContent = "reconnecting… (" + error.message + ")";
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

// An invocation that ended: the newest page takes it at its top.
function onInvocation(row) {
  state.lastNumber = Math.max(state.lastNumber, row.number);
  if (state.before === null) {
    state.rows.unshift(row);
    if (state.rows.length > PAGE) state.rows.length = PAGE;
    renderRows();
  }
  loadFunctions().catch(() => {});
  if (row.trigger === "state-machine") loadExecutions().catch(() => {});
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
  const cut = detail.cut || [];
  const show = (name, value) => {
    if (detail.dropped) return detail.dropped;
    const shown = typeof value === "string" ? value : JSON.stringify(value, null, 2);
    return cut.includes(name) ? shown + "\n… (only the first 256 KiB are kept)" : shown;
  };
  $("detail-event").textContent = show("event", detail.event);
  $("detail-answer-title").textContent = detail.outcome === "error" ? "Error" : "Answer";
  $("detail-answer").textContent = show("answer", detail.answer);
  $("detail-logs").textContent = show("logs", detail.logs);
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

// State machines, through serve's Step Functions API (the same calls the CLI makes).
async function states(action, request) {
  const response = await fetch(new URL("..", document.baseURI).toString(), {
    method: "POST",
    headers: withToken({ "x-amz-target": "AWSStepFunctions." + action, "content-type": "application/x-amz-json-1.0" }),
    body: JSON.stringify(request || {}),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message || body.Message || response.status + " " + action);
  return body;
}

const when = (seconds) => (seconds == null ? "" : new Date(seconds * 1000).toLocaleTimeString());

async function loadExecutions() {
  const { stateMachines } = await states("ListStateMachines");
  const body = $("executions").tBodies[0];
  const rows = [];
  for (const machine of stateMachines || []) {
    const { executions } = await states("ListExecutions", { stateMachineArn: machine.stateMachineArn, maxResults: 20 });
    for (const execution of executions || []) rows.push([machine, execution]);
  }
  rows.sort((a, b) => (b[1].startDate || 0) - (a[1].startDate || 0));
  body.replaceChildren();
  for (const [machine, execution] of rows) {
    const tr = document.createElement("tr");
    tr.tabIndex = 0;
    tr.dataset.executionArn = execution.executionArn;
    tr.append(text("td", machine.name), text("td", execution.name), text("td", execution.status, "status-" + execution.status.toLowerCase()));
    tr.append(text("td", when(execution.startDate)));
    tr.append(text("td", execution.stopDate ? ms((execution.stopDate - execution.startDate) * 1000) : "running"));
    const open = () => openExecution(execution.executionArn, machine.stateMachineArn);
    tr.addEventListener("click", open);
    tr.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); }
      else if (event.key === "ArrowDown" && tr.nextElementSibling) { event.preventDefault(); tr.nextElementSibling.focus(); }
      else if (event.key === "ArrowUp" && tr.previousElementSibling) { event.preventDefault(); tr.previousElementSibling.focus(); }
    });
    body.append(tr);
  }
}

// The states a state's transitions lead to: [target, "next" | "catch"].
function transitions(state) {
  const out = [];
  if (state.Next) out.push([state.Next, "next"]);
  if (state.Default) out.push([state.Default, "next"]);
  for (const choice of state.Choices || []) if (choice.Next) out.push([choice.Next, "next"]);
  for (const caught of state.Catch || []) if (caught.Next) out.push([caught.Next, "catch"]);
  return out;
}

// What each top-level state came to, from the history: entered, exited, its input and output,
// the errors it met, and whether a Catch took it on.
function outcomes(definition, events) {
  const found = {};
  for (const name of Object.keys(definition.States)) found[name] = { status: "not run", errors: [] };
  let current = null;
  let previous = null;
  for (const event of events) {
    const entered = event.stateEnteredEventDetails;
    const exited = event.stateExitedEventDetails;
    if (entered && found[entered.name]) {
      if (previous && found[previous].errors.length && found[previous].status === "retried") {
        const caught = (definition.States[previous].Catch || []).some((c) => c.Next === entered.name);
        if (caught) found[previous].status = "caught";
      }
      current = entered.name;
      found[current].status = definition.States[current].Type === "Fail" ? "failed" : "running";
      found[current].input = entered.input;
    } else if (exited && found[exited.name]) {
      const state = found[exited.name];
      state.output = exited.output;
      state.status = state.errors.length ? "retried" : "succeeded";
      previous = exited.name;
      if (current === exited.name) current = null;
    } else {
      const details = Object.entries(event).find(([key, value]) => key.endsWith("EventDetails") && value && value.error);
      if (details && current) found[current].errors.push(details[1].error + (details[1].cause ? ": " + details[1].cause : ""));
      if (event.type === "ExecutionFailed" || event.type === "ExecutionTimedOut" || event.type === "ExecutionAborted") {
        const last = current || previous;
        if (last && found[last].status !== "caught") found[last].status = "failed";
      }
    }
  }
  // A state whose errors a Catch took, and whose catcher ran, when it left no exit of its own.
  for (const [name, state] of Object.entries(found)) {
    if (state.status === "running" && state.errors.length) {
      const catchers = (definition.States[name].Catch || []).map((c) => c.Next);
      if (catchers.some((next) => found[next] && found[next].status !== "not run")) state.status = "caught";
    }
  }
  return found;
}

function label(state) {
  const error = state.errors.length ? " (" + state.errors[state.errors.length - 1].split(":")[0] + ")" : "";
  switch (state.status) {
    case "succeeded": return "✓ succeeded";
    case "retried": return "✓ succeeded after retry" + error;
    case "caught": return "↪ caught" + error;
    case "failed": return "✗ failed" + error;
    case "running": return "… running";
    default: return "– not run";
  }
}

function drawGraph(definition, found) {
  const names = Object.keys(definition.States);
  const level = { [definition.StartAt]: 0 };
  const queue = [definition.StartAt];
  while (queue.length) {
    const name = queue.shift();
    for (const [next] of transitions(definition.States[name] || {})) {
      if (!(next in level) && definition.States[next]) { level[next] = level[name] + 1; queue.push(next); }
    }
  }
  let deepest = Math.max(0, ...Object.values(level));
  for (const name of names) if (!(name in level)) level[name] = ++deepest;
  const rows = [];
  for (const name of names) (rows[level[name]] = rows[level[name]] || []).push(name);
  const [W, H, GX, GY] = [170, 44, 30, 46];
  const widest = Math.max(...rows.map((row) => (row || []).length));
  const width = widest * (W + GX) + GX;
  const place = {};
  rows.forEach((row, depth) => (row || []).forEach((name, index) => {
    const offset = (width - row.length * (W + GX) + GX) / 2;
    place[name] = { x: offset + index * (W + GX), y: GY / 2 + depth * (H + GY) };
  }));
  const height = rows.length * (H + GY);
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "The execution's path: " + names.map((name) => name + " " + label(found[name])).join(", "));
  const defs = document.createElementNS(svgNs, "defs");
  defs.innerHTML = '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5b6472"/></marker>';
  svg.append(defs);
  for (const name of names) {
    for (const [next, kind] of transitions(definition.States[name])) {
      if (!place[next]) continue;
      const from = place[name], to = place[next];
      const line = document.createElementNS(svgNs, "path");
      const [x1, y1] = [from.x + W / 2, from.y + H];
      const [x2, y2] = to.y > from.y ? [to.x + W / 2, to.y] : [to.x + W, to.y + H / 2];
      line.setAttribute("d", `M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}`);
      line.setAttribute("class", "edge " + kind);
      line.setAttribute("marker-end", "url(#arrow)");
      svg.append(line);
    }
  }
  for (const name of names) {
    const group = document.createElementNS(svgNs, "g");
    group.setAttribute("class", "node " + found[name].status.replace(" ", "-"));
    group.dataset.state = name;
    const rect = document.createElementNS(svgNs, "rect");
    for (const [key, value] of Object.entries({ x: place[name].x, y: place[name].y, width: W, height: H, rx: 6 })) rect.setAttribute(key, value);
    const title = document.createElementNS(svgNs, "text");
    title.setAttribute("x", place[name].x + 8);
    title.setAttribute("y", place[name].y + 18);
    title.textContent = name + " · " + definition.States[name].Type;
    const status = document.createElementNS(svgNs, "text");
    status.setAttribute("x", place[name].x + 8);
    status.setAttribute("y", place[name].y + 35);
    status.setAttribute("class", "status");
    status.textContent = label(found[name]);
    group.append(rect, title, status);
    svg.append(group);
  }
  $("graph").replaceChildren(svg);
}

async function openExecution(executionArn, machineArn) {
  const [execution, machine, history] = await Promise.all([
    states("DescribeExecution", { executionArn }),
    states("DescribeStateMachine", { stateMachineArn: machineArn }),
    states("GetExecutionHistory", { executionArn, maxResults: 1000 }),
  ]);
  const definition = JSON.parse(machine.definition);
  const events = history.events || [];
  const found = outcomes(definition, events);
  $("execution").hidden = false;
  $("execution-title").textContent = "Execution " + execution.name + " of " + machine.name;
  const summary = $("execution-summary");
  summary.replaceChildren();
  const fields = [["Status", execution.status], ["Started", when(execution.startDate)], ["Input", execution.input || ""]];
  if (execution.output) fields.push(["Output", execution.output]);
  if (execution.error) fields.push(["Error", execution.error + (execution.cause ? ": " + execution.cause : "")]);
  for (const [name, value] of fields) summary.append(text("dt", name), text("dd", value));
  drawGraph(definition, found);
  const stateRows = $("states").tBodies[0];
  stateRows.replaceChildren();
  for (const [name, state] of Object.entries(found)) {
    const tr = document.createElement("tr");
    tr.dataset.state = name;
    tr.append(text("th", name), text("td", definition.States[name].Type), text("td", label(state)));
    tr.firstChild.scope = "row";
    tr.append(text("td", state.input || ""), text("td", [state.output || "", ...state.errors].filter(Boolean).join("\n")));
    stateRows.append(tr);
  }
  const timeline = $("timeline").tBodies[0];
  timeline.replaceChildren();
  const first = events.length ? events[0].timestamp : 0;
  let state = "";
  for (const event of events) {
    const entered = event.stateEnteredEventDetails || event.stateExitedEventDetails;
    if (entered) state = entered.name;
    const tr = document.createElement("tr");
    tr.append(text("td", String(event.id)), text("td", ms((event.timestamp - first) * 1000)), text("td", event.type), text("td", state));
    timeline.append(tr);
  }
  $("execution").scrollIntoView({ block: "nearest" });
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
  Promise.all([loadFunctions(), loadKinds(), loadPage(), loadExecutions()])
    .then(() => live())
    .catch((error) => { $("status").textContent = "cannot read serve: " + error.message; });
}

start();
