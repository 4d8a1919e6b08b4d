// The dashboard: sign-in, then pages drawn from the JSON API (charts by plotly.js). No framework, no build.
// Every text that came from the API is put on the page as text (textContent), never as markup.
"use strict";

const TOKEN = "voicegrid.token";
const BUSINESS = "voicegrid.business";
const state = { token: sessionStorage.getItem(TOKEN), me: null, business: null, timer: null };
const $ = (id) => document.getElementById(id);
const PLOT = { displayModeBar: false, responsive: true };
const COMPONENTS = [
  ["endpointing_ms", "endpointing"],
  ["stt_final_ms", "STT final"],
  ["llm_first_token_ms", "LLM first token"],
  ["tts_first_audio_ms", "TTS first audio"],
  ["platform_ms", "platform"],
];

// ---- small helpers ---------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  return put(node, ...children);
}

// Append children to `node`, skipping the absent ones (null, undefined): the DOM's own append
// would write them as the text "null".
function put(node, ...children) {
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

const money = (v, digits = 4) => {
  if (v === null || v === undefined) return "–";
  const n = Number(v);
  return "$" + n.toFixed(n !== 0 && Math.abs(n) < 1 ? Math.max(digits, 4) : digits);
};
const ms = (v) => (v === null || v === undefined ? "–" : Math.round(v) + " ms");
const num = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const isoDay = (date) => date.toISOString().slice(0, 10);

function seconds(call) {
  if (!call.answered_at || !call.ended_at) return null;
  return (new Date(call.ended_at) - new Date(call.answered_at)) / 1000;
}

function table(headers, rows, { numeric = [], onRow = null, foot = null } = {}) {
  const head = el("tr", {}, headers.map((h, i) => el("th", numeric.includes(i) ? { class: "num" } : {}, h)));
  const body = rows.map((row) => {
    const tr = el("tr", onRow ? { class: "link" } : {}, row.cells.map((c, i) =>
      el("td", numeric.includes(i) ? { class: "num" } : {}, c)));
    if (onRow) tr.addEventListener("click", () => onRow(row));
    if (row.id) tr.dataset.id = row.id;
    return tr;
  });
  const parts = [el("thead", {}, head), el("tbody", {}, body)];
  if (foot) parts.push(el("tfoot", {}, el("tr", {}, foot.map((c, i) => el("td", numeric.includes(i) ? { class: "num" } : {}, c)))));
  return el("table", {}, parts);
}

function chart(id, title) {
  return el("section", { class: "card" }, el("h2", {}, title), el("div", { class: "chart", id }));
}

function plot(page, id, traces, layout = {}) {
  const base = {
    margin: { t: 30, r: 10, b: 45, l: 55 },
    legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom" },
    font: { family: "system-ui, sans-serif", size: 12 },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
  };
  return Plotly.newPlot(page.querySelector("#" + id), traces, { ...base, ...layout }, PLOT);
}

function primary() {
  return getComputedStyle(document.documentElement).getPropertyValue("--primary").trim() || "#2563eb";
}

// ---- the API ---------------------------------------------------------------------------------

// One of a refused body's problems (FastAPI's 422 detail), as a person reads it: "window.end: ...".
function problem(p) {
  const where = (p.loc || []).filter((part) => part !== "body").join(".");
  const what = String(p.msg || "").replace(/^Value error, /, "");
  return where ? `${where}: ${what}` : what;
}

class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : Array.isArray(detail) ? detail.map(problem).join("; ") : JSON.stringify(detail));
    this.status = status;
    this.detail = detail;
  }
}

async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  if (options.json !== undefined) headers["Content-Type"] = "application/json";
  if (options.csv !== undefined) headers["Content-Type"] = "text/csv";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.json !== undefined ? JSON.stringify(options.json) : options.csv,
  });
  if (response.status === 401 && state.token && !options.signingIn) {
    signOut("Your sign-in has ended: sign in again.");
    throw new ApiError(401, "signed out");
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
    throw new ApiError(response.status, detail);
  }
  if (options.raw) return response;
  return response.status === 204 ? null : response.json();
}

// Business routes: a business's own key needs no prefix; reseller and platform users pick a business.
function biz(path) {
  return state.me.scope === "business" ? "/v1" + path : `/v1/businesses/${state.business}${path}`;
}

async function download(path, name) {
  const blob = await (await api(path, { raw: true })).blob();
  const link = el("a", { href: URL.createObjectURL(blob), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

function exportButton(path, name) {
  return el("button", { type: "button", onclick: () => download(path, name) }, "Export CSV");
}

// ---- branding and sign-in --------------------------------------------------------------------

function applyBranding(b) {
  const root = document.documentElement.style;
  root.setProperty("--primary", b.primary_color);
  root.setProperty("--accent", b.accent_color);
  $("product").textContent = b.product_name;
  document.title = b.product_name + " · dashboard";
  const logo = $("logo");
  logo.hidden = !b.logo_url;
  if (b.logo_url) logo.src = b.logo_url;
  $("support").textContent = b.support_email ? "Support: " + b.support_email : "";
}

function showSignIn(message = "") {
  clearInterval(state.timer);
  $("sign-in").hidden = false;
  $("app").hidden = true;
  $("nav").hidden = true;
  $("who").hidden = true;
  $("sign-in-error").textContent = message;
}

function signOut(message = "") {
  const token = state.token;
  state.token = null;
  state.me = null;
  sessionStorage.removeItem(TOKEN);
  if (token && !message) {
    fetch("/v1/sessions/current", { method: "DELETE", headers: { Authorization: "Bearer " + token } });
  }
  api("/v1/public/branding").then(applyBranding).catch(() => {});
  showSignIn(message);
}

async function startWith(token) {
  state.token = token;
  try {
    state.me = await api("/v1/me", { signingIn: true });
  } catch (error) {
    state.token = null;
    throw error;
  }
  sessionStorage.setItem(TOKEN, token);
  applyBranding(await api("/v1/branding"));
  await chooseBusiness();
  $("identity").textContent = `${state.me.scope} · ${state.me.role}`;
  for (const above of ["plan", "businesses", "reseller"]) {
    document.querySelector(`nav a[data-page=${above}]`).hidden = state.me.scope === "business";
  }
  document.querySelector("nav a[data-page=reseller]").textContent = state.me.scope === "platform" ? "Resellers" : "Reseller";
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("nav").hidden = false;
  $("who").hidden = false;
  if (!location.hash || location.hash === "#/") location.hash = "#/overview";
  else route();
}

async function chooseBusiness() {
  const select = $("business");
  if (state.me.scope === "business") {
    state.business = state.me.business_id;
    select.hidden = true;
    return;
  }
  const list = (await api("/v1/businesses?limit=200")).items;
  select.replaceChildren(...list.map((b) => el("option", { value: b.id }, b.name)));
  const kept = sessionStorage.getItem(BUSINESS);
  state.business = list.some((b) => b.id === kept) ? kept : list[0] && list[0].id;
  select.value = state.business || "";
  select.hidden = false;
}

// ---- pages -----------------------------------------------------------------------------------

// A range is a preset (the last 7, 30 or 90 days, this or last calendar month) or two days picked by
// hand; every day is a UTC day, as the API counts them. It lives in sessionStorage across pages.
const RANGES = [
  ["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"],
  ["month", "This month"], ["last-month", "Last month"], ["custom", "Custom range"],
];
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const MAX_RANGE_DAYS = 400; // the API's bound

// A select of [value, label] options showing `value`; `onPick` gets the new value.
function choiceSelect(attrs, options, value, onPick) {
  const select = el("select", attrs, options.map(([v, label]) => el("option", { value: v }, label)));
  select.value = value;
  select.addEventListener("change", () => onPick(select.value));
  return select;
}

// The choice kept under `key`, if it is one of `options`; else `fallback`.
function storedChoice(key, options, fallback) {
  const choice = sessionStorage.getItem(key);
  return options.some(([value]) => value === choice) ? choice : fallback;
}

function rangeChoice() {
  return storedChoice("voicegrid.range", RANGES, "30");
}

function lastDays(days) {
  const to = new Date();
  return { from: isoDay(new Date(to.getTime() - (days - 1) * 86400000)), to: isoDay(to) };
}

function customRange() {
  try {
    const saved = JSON.parse(sessionStorage.getItem("voicegrid.custom") || "null");
    if (saved && rangeProblem(saved.from, saved.to) === "") return { from: saved.from, to: saved.to };
  } catch (_) { /* a damaged entry: the default below */ }
  return lastDays(30);
}

function rangeProblem(from, to) {
  if (!DAY.test(from || "") || !DAY.test(to || "")) return "Pick both days.";
  if (from > to) return "The first day is after the last.";
  const span = (Date.parse(to + "T00:00:00Z") - Date.parse(from + "T00:00:00Z")) / 86400000 + 1;
  return span > MAX_RANGE_DAYS ? `A range is at most ${MAX_RANGE_DAYS} days.` : "";
}

function rangeBounds() {
  const choice = rangeChoice();
  const today = new Date();
  const [year, month] = [today.getUTCFullYear(), today.getUTCMonth()];
  if (choice === "month") return { from: isoDay(new Date(Date.UTC(year, month, 1))), to: isoDay(today) };
  if (choice === "last-month") {
    return { from: isoDay(new Date(Date.UTC(year, month - 1, 1))), to: isoDay(new Date(Date.UTC(year, month, 0))) };
  }
  if (choice === "custom") return customRange();
  return lastDays(Number(choice));
}

function rangeQuery() {
  const { from, to } = rangeBounds();
  return `from=${from}&to=${to}`;
}

function rangePicker(onChange) {
  const select = choiceSelect({ id: "range", "aria-label": "Range" }, RANGES, rangeChoice(), (value) => {
    if (value === "custom") {
      // Start from the days on show, so switching to "custom" changes nothing until a day is picked.
      sessionStorage.setItem("voicegrid.custom", JSON.stringify(rangeBounds()));
    }
    sessionStorage.setItem("voicegrid.range", value);
    onChange();
  });
  const shown = rangeBounds();
  const from = el("input", { id: "range-from", type: "date", "aria-label": "First day", value: shown.from });
  const to = el("input", { id: "range-to", type: "date", "aria-label": "Last day", value: shown.to });
  const problem = el("span", { id: "range-problem", class: "error", role: "alert" });
  const custom = el("span", { class: "range-custom" }, from, "–", to, problem);
  custom.hidden = select.value !== "custom";
  const picked = () => {
    const why = rangeProblem(from.value, to.value);
    problem.textContent = why;
    if (why !== "") return;
    sessionStorage.setItem("voicegrid.custom", JSON.stringify({ from: from.value, to: to.value }));
    onChange();
  };
  from.addEventListener("change", picked);
  to.addEventListener("change", picked);
  return el("span", { class: "range" }, select, custom);
}

// The overview's calls: all of them, or one direction (inbound and outbound cost and behave apart).
const DIRECTIONS = [["", "All directions"], ["inbound", "Inbound"], ["outbound", "Outbound"]];

function directionQuery() {
  const direction = storedChoice("voicegrid.direction", DIRECTIONS, "");
  return direction ? `&direction=${direction}` : "";
}

function directionPicker(onChange) {
  const shown = storedChoice("voicegrid.direction", DIRECTIONS, "");
  return choiceSelect({ id: "direction", "aria-label": "Direction" }, DIRECTIONS, shown, (value) => {
    sessionStorage.setItem("voicegrid.direction", value);
    onChange();
  });
}

function percent(rate) {
  return rate === null || rate === undefined ? "–" : (100 * rate).toFixed(1) + " %";
}

function kpi(label, value, id) {
  return el("div", { class: "kpi", id }, el("div", { class: "label" }, label), el("div", { class: "value" }, value));
}

async function overview(page) {
  const [daily, total, byAgent, intents, agentList] = await Promise.all([
    api(biz(`/analytics/calls?group_by=day&${rangeQuery()}${directionQuery()}`)),
    api(biz(`/analytics/calls?group_by=total&${rangeQuery()}${directionQuery()}`)),
    api(biz(`/analytics/calls?group_by=agent&${rangeQuery()}${directionQuery()}`)),
    api(biz(`/analytics/intents?top=10&${rangeQuery()}`)),
    api(biz("/agents?limit=200")),
  ]);
  const agentNames = Object.fromEntries(agentList.items.map((a) => [a.id, a.name]));
  const agentRows = byAgent.rows.filter((r) => r.analyzed > 0);
  const t = total.rows[0] || { calls: 0, minutes: 0, cost: 0, billable: 0, p50: {}, p95: {}, outcomes: {} };
  const exportCsv = exportButton(biz(`/analytics/calls?group_by=day&format=csv&${rangeQuery()}${directionQuery()}`), "calls-by-day.csv");
  put(page,
    el("div", { class: "toolbar" }, el("h1", {}, "Overview"), rangePicker(() => route()), directionPicker(() => route()), exportCsv),
    el("div", { class: "kpis" },
      kpi("Calls", t.calls, "kpi-calls"),
      kpi("Minutes", num(t.minutes), "kpi-minutes"),
      kpi("Cost", money(t.cost, 2), "kpi-cost"),
      kpi("Billable", money(t.billable, 2), "kpi-billable"),
      kpi("Cost per minute", money(t.cost_per_minute, 4), "kpi-cpm"),
      kpi("Voice-to-voice p50", ms(t.p50.voice_to_voice_ms), "kpi-v2v-p50"),
      kpi("Voice-to-voice p95", ms(t.p95.voice_to_voice_ms), "kpi-v2v-p95"),
      kpi("Failover rate", t.failover_rate === null || t.failover_rate === undefined ? "–" : (100 * t.failover_rate).toFixed(1) + " %", "kpi-failover"),
      kpi("Success rate", percent(t.success_rate), "kpi-success"),
      kpi("Cost per successful call", money(t.cost_per_success, 4), "kpi-cost-per-success")),
    el("div", { class: "grid" },
      chart("chart-volume", "Calls and minutes per day"),
      chart("chart-cost", "Cost and billable per day (USD)"),
      chart("chart-latency", "Voice-to-voice latency per day"),
      chart("chart-outcomes", "Outcomes")),
    el("div", { class: "grid" },
      el("section", { class: "card", id: "success-by-agent" }, el("h2", {}, "Success by agent (analysed calls)"),
        agentRows.length === 0 ? el("p", { class: "muted" }, "No analysed calls in this range.") :
          table(["Agent", "Analysed", "Succeeded", "Success rate", "Cost per success"],
            agentRows.map((r) => ({ cells: [agentNames[r.agent] || r.agent || "–", r.analyzed, r.succeeded, percent(r.success_rate), money(r.cost_per_success, 4)] })),
            { numeric: [1, 2, 3, 4] })),
      el("section", { class: "card", id: "top-intents" }, el("h2", {}, "What callers asked most"),
        intents.rows.length === 0 ? el("p", { class: "muted" }, "No questions from the knowledge base asked in this range.") :
          table(["Question", "Asked", "Answered", "Answer rate"],
            intents.rows.map((r) => ({ cells: [r.intent, r.asked, r.answered, percent(r.answer_rate)] })),
            { numeric: [1, 2, 3] }))));
  // Every day of the range on the axis, days without calls at zero (latency: a gap).
  const byDay = Object.fromEntries(daily.rows.map((r) => [r.day, r]));
  const days = [];
  for (let d = new Date(daily.first_day + "T00:00:00Z"); isoDay(d) <= daily.last_day; d = new Date(d.getTime() + 86400000)) days.push(isoDay(d));
  const series = (pick, empty = 0) => days.map((d) => (byDay[d] ? pick(byDay[d]) : empty));
  const dayAxis = { xaxis: { type: "date", tickformat: "%b %d" } };
  plot(page, "chart-volume", [
    { type: "bar", name: "calls", x: days, y: series((r) => r.calls), marker: { color: primary() } },
    { type: "scatter", mode: "lines+markers", name: "minutes", x: days, y: series((r) => r.minutes), yaxis: "y2" },
  ], { ...dayAxis, yaxis: { title: { text: "calls" }, rangemode: "tozero" },
    yaxis2: { title: { text: "minutes" }, overlaying: "y", side: "right", rangemode: "tozero", showgrid: false },
    margin: { t: 30, r: 55, b: 45, l: 55 } });
  plot(page, "chart-cost", [
    { type: "bar", name: "cost", x: days, y: series((r) => r.cost), marker: { color: primary() } },
    { type: "bar", name: "billable", x: days, y: series((r) => r.billable) },
  ], { ...dayAxis, barmode: "group", yaxis: { tickprefix: "$" } });
  plot(page, "chart-latency", ["p50", "p95"].map((q) => ({
    type: "scatter", mode: "lines+markers", connectgaps: false, name: q, x: days, y: series((r) => r[q].voice_to_voice_ms, null),
  })), { ...dayAxis, yaxis: { title: { text: "ms" }, rangemode: "tozero" } });
  const outcomes = Object.entries(t.outcomes || {});
  plot(page, "chart-outcomes", [{ type: "pie", hole: 0.5, labels: outcomes.map((o) => o[0]), values: outcomes.map((o) => o[1]) }]);
}

async function calls(page) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const agents = (await api(biz("/agents?limit=200"))).items;
  const names = Object.fromEntries(agents.map((a) => [a.id, a.name]));
  const filter = (name, options) => {
    const select = choiceSelect({ id: "filter-" + name }, [["", "any"], ...options], params.get(name) || "", (value) => {
      if (value) params.set(name, value); else params.delete(name);
      location.hash = "#/calls?" + params.toString();
    });
    return el("label", {}, name.replace("_id", ""), select);
  };
  const query = new URLSearchParams({ limit: "100" });
  for (const name of ["agent_id", "direction", "outcome", "success", "field"]) if (params.get(name)) query.set(name, params.get(name));
  const fieldFilter = el("input", { id: "filter-field", placeholder: "field:value", value: params.get("field") || "",
    title: "a field the analysis extracted, e.g. party_size:4" });
  fieldFilter.addEventListener("change", () => {
    const value = fieldFilter.value.trim();
    if (value.includes(":")) params.set("field", value); else params.delete("field");
    location.hash = "#/calls?" + params.toString();
  });
  const list = (await api(biz("/calls?" + query.toString()))).items;
  const exportCsv = exportButton(biz(`/calls/export?format=csv&${rangeQuery()}`), "calls.csv");
  put(page,
    el("h1", {}, "Calls"),
    el("div", { class: "toolbar" },
      filter("agent_id", agents.map((a) => [a.id, a.name])),
      filter("direction", [["inbound", "inbound"], ["outbound", "outbound"]]),
      filter("outcome", ["completed", "transferred", "no-answer", "busy", "declined", "cancelled", "failed", "max-duration", "drained", "queue-timeout"].map((o) => [o, o])),
      filter("success", [["true", "succeeded"], ["false", "failed"]]),
      el("label", {}, "field", fieldFilter),
      exportCsv),
    el("section", { class: "card" }, list.length === 0 ? el("p", { class: "muted" }, "No calls match.") :
      table(["Started", "Direction", "From", "To", "Agent", "Outcome", "Success", "Duration", "Cost", "V2V p50"],
        list.map((c) => ({
          id: c.id,
          cells: [when(c.created_at), c.direction, c.from_number || "–", c.to || "–", names[c.agent_id] || c.agent_id || "–",
            c.state === "ended" ? c.outcome || "–" : el("span", { class: "pill" }, c.state),
            verdict(c.analysis),
            seconds(c) === null ? "–" : num(seconds(c)) + " s",
            c.cost ? money(c.cost.total) : "–",
            c.latency && c.latency.p50 ? ms(c.latency.p50.voice_to_voice_ms) : "–"],
        })),
        { numeric: [7, 8, 9], onRow: (row) => { location.hash = "#/calls/" + row.id; } })));
}

function verdict(analysis) {
  if (!analysis || !analysis.success) return analysis && analysis.status === "pending" ? el("span", { class: "pill" }, "pending") : "–";
  return el("span", { class: "pill " + (analysis.success.passed ? "ok" : "bad") }, analysis.success.passed ? "succeeded" : "failed");
}

function analysisCard(a) {
  const card = el("section", { class: "card", id: "analysis" }, el("h2", {}, "What the call achieved"));
  if (!a || a.status === "pending") {
    put(card, el("p", { class: "muted" }, a ? "The analysis is under way." : "Not analysed (the agent's analysis is off, or the call was not answered)."));
    return card;
  }
  const cost = a.engine === "llm" ? `${a.provider || ""} ${a.model || ""} · ${money(a.cost, 6)}` : "embedded, offline · free";
  put(card,
    el("p", { class: "muted", id: "analysis-engine" }, `${cost} · ${a.ms === null || a.ms === undefined ? "–" : num(a.ms) + " ms"}`),
    a.status === "failed" ? el("p", { id: "analysis-failed" }, "The analysis failed: " + (a.reason || "")) : null,
    a.summary ? el("p", { id: "analysis-summary" }, a.summary) : null,
    el("div", { class: "facts" },
      [["Success", a.success ? verdict(a) : "–"], ["Why", a.success ? a.success.reason : "–"],
       ["Score", a.success && a.success.score !== null && a.success.score !== undefined ? num(a.success.score) + " / 10" : "–"],
       ["Sentiment", a.sentiment ? a.sentiment.label : "–"], ["Outcome", a.outcome || "–"],
       ["Tools", (a.tools || []).join(", ") || "none"]].map(([label, value]) =>
        el("div", {}, el("div", { class: "label" }, label), el("div", {}, value)))),
    (a.intents || []).length === 0 ? null : table(["Question asked", "Answered"],
      a.intents.map((i) => ({ cells: [i.intent, i.answered ? "yes" : "no"] }))),
    (a.entities || []).length === 0 ? null : table(["The caller said", "Kind", "Value"],
      a.entities.map((e) => ({ cells: [e.text, e.kind, e.value] }))),
    a.extracted ? table(["Field", "Extracted"], Object.entries(a.extracted).map(([k, v]) => ({ cells: [k, JSON.stringify(v)] }))) : null,
    (a.follow_up || []).length === 0 ? null : el("div", { id: "analysis-follow-up" }, el("h3", {}, "Follow up"),
      el("ul", {}, a.follow_up.map((f) => el("li", {}, f)))));
  return card;
}

async function callDetail(page, id) {
  const call = await api(biz("/calls/" + encodeURIComponent(id)));
  const cost = call.cost || { items: [], total: null, billable_total: null, currency: "USD" };
  const turns = (call.latency && call.latency.turns) || [];
  const transcript = (call.conversation && call.conversation.transcript) || [];
  const facts = [
    ["Direction", call.direction], ["From", call.from_number], ["To", call.to], ["State", call.state],
    ["Outcome", call.outcome], ["Ended by", call.ended_by], ["Started", when(call.created_at)],
    ["Answered", when(call.answered_at)], ["Ended", when(call.ended_at)],
    ["Talk time", seconds(call) === null ? "–" : num(seconds(call)) + " s"],
    ["Packets lost", call.quality && call.quality.packets_lost !== undefined ? call.quality.packets_lost : "–"],
    ["Jitter", call.quality && call.quality.jitter_ms !== undefined ? num(call.quality.jitter_ms) + " ms" : "–"],
  ];
  const costTable = table(["Component", "Provider", "Model", "Quantity", "Unit", "Unit price", "Amount"],
    cost.items.map((i) => ({ cells: [i.component, i.provider, i.model || "–", num(i.quantity, 3), i.unit, money(i.unit_price, 6), money(i.amount, 6)] })),
    { numeric: [3, 5, 6], foot: ["Total", "", "", "", "", "", money(cost.total, 6)] });
  const billable = el("p", { class: "muted", id: "billable" }, `Billable to the business: ${money(cost.billable_total, 6)} ${cost.currency || ""}`);
  const player = el("div", { id: "recording" });
  put(page,
    el("div", { class: "toolbar" }, el("h1", {}, "Call " + call.id), el("a", { href: "#/calls" }, "← all calls")),
    el("section", { class: "card facts" }, facts.map(([label, value]) =>
      el("div", {}, el("div", { class: "label" }, label), el("div", {}, value === null || value === undefined ? "–" : value)))),
    el("section", { class: "card", id: "cost-breakdown" }, el("h2", {}, "Cost breakdown"), el("div", { class: "scroll" }, costTable), billable),
    el("div", { class: "grid" },
      chart("chart-cost-items", "Cost by component (USD)"),
      chart("chart-turns", "Latency per turn")),
    analysisCard(call.analysis),
    el("section", { class: "card transcript", id: "transcript" }, el("h2", {}, "Transcript"),
      transcript.length === 0 ? el("p", { class: "muted" }, "No transcript (erased, or none was spoken).") :
        transcript.map((line) => el("p", { class: line.speaker },
          el("span", { class: "speaker" }, line.speaker),
          el("span", { class: "muted" }, `+${num(line.at - transcript[0].at)} s  `), line.text,
          line.interrupted ? el("span", { class: "pill" }, "interrupted") : null))),
    el("section", { class: "card" }, el("h2", {}, "Recording"), player));
  plot(page, "chart-cost-items", [{
    type: "bar", orientation: "h", y: cost.items.map((i) => `${i.component} · ${i.provider}`),
    x: cost.items.map((i) => Number(i.amount)), marker: { color: primary() },
  }], { margin: { t: 10, r: 10, b: 30, l: 160 } });
  const labels = turns.map((t) => "turn " + t.index);
  const traces = COMPONENTS.map(([field, name]) => ({
    type: "bar", orientation: "h", name, y: labels, x: turns.map((t) => t[field] || 0),
  }));
  plot(page, "chart-turns", traces, { barmode: "stack", legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", traceorder: "normal" }, xaxis: { title: { text: "ms (sums to voice-to-voice)" } }, yaxis: { autorange: "reversed" } });
  if (call.recording) {
    api(biz(`/calls/${encodeURIComponent(id)}/recording`), { raw: true })
      .then((r) => r.blob())
      .then((blob) => player.replaceChildren(el("audio", { controls: "", src: URL.createObjectURL(blob) })))
      .catch(() => player.replaceChildren(el("p", { class: "muted" }, "The recording is kept on the node that took the call, and is not reachable from here.")));
  } else {
    put(player, el("p", { class: "muted" }, "This call was not recorded."));
  }
}

async function providers(page) {
  const data = await api(biz(`/analytics/providers?${rangeQuery()}`));
  const rows = data.rows;
  const label = (r) => `${r.stage} · ${r.provider}`;
  const exportCsv = exportButton(biz(`/analytics/providers?format=csv&${rangeQuery()}`), "providers.csv");
  put(page,
    el("div", { class: "toolbar" }, el("h1", {}, "Providers"), rangePicker(() => route()), exportCsv),
    el("div", { class: "grid" }, chart("chart-provider-cost", "Cost by provider (USD)"), chart("chart-provider-wait", "Wait for the provider (ms)")),
    el("section", { class: "card" }, rows.length === 0 ? el("p", { class: "muted" }, "No calls in this range.") :
      table(["Stage", "Provider", "Calls", "Quantity", "Unit", "Cost", "Failover rate", "Wait p50", "Wait p95"],
        rows.map((r) => ({ cells: [r.stage, r.provider, r.calls, num(r.quantity, 2), r.unit, money(r.cost), num(100 * (r.failover_rate || 0)) + " %", ms(r.wait_ms_p50), ms(r.wait_ms_p95)] })),
        { numeric: [2, 3, 5, 6, 7, 8] })));
  plot(page, "chart-provider-cost", [{ type: "bar", x: rows.map(label), y: rows.map((r) => r.cost), marker: { color: primary() } }]);
  plot(page, "chart-provider-wait", ["wait_ms_p50", "wait_ms_p95"].map((f) => ({
    type: "bar", name: f.slice(8), x: rows.map(label), y: rows.map((r) => r[f]),
  })), { barmode: "group" });
}

async function recommendations(page) {
  const data = await api(biz(`/analytics/recommendations?${rangeQuery()}`));
  put(page,
    el("div", { class: "toolbar" }, el("h1", {}, "Recommendations"), rangePicker(() => route())),
    el("p", { class: "muted" }, "Your recorded calls, re-rated on every other provider the price catalog knows, scaled to a month at your volume."),
    el("section", { class: "card" }, data.rows.length === 0 ? el("p", { class: "muted" }, "No calls to learn from yet.") :
      table(["Stage", "Now", "Instead", "Per month", "First audio", "In words"],
        data.rows.map((r) => ({ cells: [r.stage, r.current, r.alternative,
          el("span", { class: r.monthly_change <= 0 ? "saves" : "costs" }, (r.monthly_change <= 0 ? "−" : "+") + money(Math.abs(r.monthly_change), 2)),
          r.latency_change_ms === null ? "–" : (r.latency_change_ms > 0 ? "+" : "") + Math.round(r.latency_change_ms) + " ms", r.text] })),
        { numeric: [3, 4] })));
}

// The plan (`voicegrid report`) for the chosen business, from its calls in the range: reseller and
// platform users. The document opens in a tab of its own (a blob: nothing is fetched by it).
async function plan(page) {
  const status = el("p", { class: "muted", id: "plan-status" }, "");
  const make = async (open) => {
    status.textContent = "Making the plan…";
    try {
      const blob = await (await api(biz(`/report?${rangeQuery()}`), { raw: true })).blob();
      const url = URL.createObjectURL(new Blob([blob], { type: "text/html" }));
      if (open) window.open(url, "_blank", "noopener");
      else {
        const link = el("a", { href: url, download: `plan-${state.business}.html` });
        document.body.append(link);
        link.click();
        link.remove();
      }
      status.textContent = "Done.";
    } catch (error) {
      status.textContent = error.status === 422 ? "No calls in this range to plan from." : String(error.message || error);
    }
  };
  put(page,
    el("div", { class: "toolbar" }, el("h1", {}, "Plan"), rangePicker(() => route())),
    el("p", { class: "muted" }, "A document for the business's decision makers: recommended stack, cost per minute and per month, concurrency, growth, security, a rollout plan and a glossary, from its calls in the range, the price catalog and the planner."),
    el("section", { class: "card" },
      el("button", { type: "button", id: "plan-open", onclick: () => make(true) }, "Open the plan"), " ",
      el("button", { type: "button", id: "plan-download", onclick: () => make(false) }, "Download (HTML)"),
      status));
}

async function live(page) {
  const data = await api(biz("/calls/live"));
  put(page,
    el("h1", {}, "Live"),
    el("div", { class: "kpis" },
      kpi("Calls up now (all nodes)", data.in_use === null ? "–" : data.in_use, "kpi-in-use"),
      kpi("Concurrent-call limit", data.max_concurrent_calls === null ? "none" : data.max_concurrent_calls, "kpi-limit"),
      kpi("Minutes this month", num(data.minutes_this_month), "kpi-month"),
      kpi("Monthly minutes allowed", data.monthly_minutes === null ? "no cap" : data.monthly_minutes, "kpi-month-cap")),
    el("div", { class: "grid" }, chart("chart-capacity", "Capacity in use")),
    el("section", { class: "card" }, el("h2", {}, "Calls on this node"), data.calls.length === 0 ? el("p", { class: "muted" }, "No call is up.") :
      table(["Started", "State", "Direction", "From", "To", ""], data.calls.map((c) => ({
        id: c.id,
        cells: [when(c.created_at), c.state, c.direction, c.from_number || "–", c.to || "–",
          el("button", { type: "button", onclick: (e) => { e.stopPropagation(); hangup(c.id); } }, "Hang up")],
      })), { onRow: (row) => { location.hash = "#/calls/" + row.id; } })));
  const limit = data.max_concurrent_calls || Math.max(10, (data.in_use || 0) * 2);
  plot(page, "chart-capacity", [{
    type: "indicator", mode: "gauge+number", value: data.in_use || 0,
    gauge: { axis: { range: [0, limit] }, bar: { color: primary() } },
    title: { text: data.max_concurrent_calls ? `of ${data.max_concurrent_calls} calls` : "calls (no limit set)" },
  }], { margin: { t: 30, r: 30, b: 10, l: 30 } });
  state.timer = setInterval(() => { if (location.hash === "#/live") route(); }, 3000);
}

// ---- campaigns -------------------------------------------------------------------------------

const OUTCOMES = ["answered", "voicemail", "busy", "no-answer", "failed", "declined", "do-not-call", "interrupted", "cancelled"];
const MOVES = {
  draft: ["start", "cancel"], scheduled: ["start", "cancel"], running: ["pause", "cancel"], paused: ["resume", "cancel"],
};
const DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

// "Mon-Fri 09:00-20:00": a stored window ({start, end, days}), as a person reads it.
function windowText(w) {
  const days = (w.days || [0, 1, 2, 3, 4]).slice().sort();
  const runs = [];
  for (const d of days) {
    const last = runs[runs.length - 1];
    if (last && last[1] === d - 1) last[1] = d; else runs.push([d, d]);
  }
  const named = runs.map(([a, b]) => (a === b ? DAYS[a] : `${DAYS[a]}-${DAYS[b]}`)).join(", ");
  return `${named} ${w.start || "09:00"}-${w.end || "20:00"}`;
}

// A calling window's fields (ids `<prefix>-opens`, `<prefix>-closes`, `<prefix>-day-0` to 6), filled
// from `w`; `value()` gives the window as the API takes it.
function windowFields(prefix, w) {
  const opens = el("input", { id: prefix + "-opens", type: "time", value: w.start, required: "" });
  const closes = el("input", { id: prefix + "-closes", type: "time", value: w.end, required: "" });
  const days = DAYS.map((day, i) => el("input", { type: "checkbox", id: `${prefix}-day-${i}`, value: String(i),
    ...(w.days.includes(i) ? { checked: "" } : {}) }));
  const node = el("fieldset", { class: "plain window" }, el("legend", { class: "muted" }, "Calling window, in each contact's own time"),
    el("label", {}, "From ", opens), el("label", {}, "To ", closes),
    el("div", { class: "days" }, days.map((box, i) => el("label", {}, box, " " + DAYS[i]))));
  const value = () => ({ start: opens.value, end: closes.value, days: days.filter((box) => box.checked).map((box) => Number(box.value)) });
  return { node, value };
}

// A campaign not yet started starts by itself at a time: the browser's local time, sent as UTC.
function scheduleForm(path, c) {
  const at = el("input", { id: "campaign-at", type: "datetime-local", required: "", "aria-label": "Start at" });
  const form = el("form", { id: "schedule-form", class: "inline" }, el("label", {}, "Start by itself at ", at),
    el("button", { type: "submit" }, c.state === "scheduled" ? "Move the start" : "Schedule"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(`${path}/start`, { method: "POST", json: { at: new Date(at.value).toISOString() } });
      route();
    } catch (error) {
      $("page-error").textContent = error.message;
    }
  });
  return form;
}

// A campaign's settings a person changes most, until it runs or while paused: its window and its calls at once.
function changeForm(path, c) {
  const hours = windowFields("change", c.window);
  const concurrent = el("input", { id: "change-concurrent", type: "number", min: "1", max: "1000", value: String(c.max_concurrent) });
  const form = el("form", { id: "change-form" }, el("label", {}, "Calls at once ", concurrent), hours.node,
    el("button", { type: "submit", class: "primary" }, "Save changes"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api(path, { method: "PATCH", json: { max_concurrent: Number(concurrent.value), window: hours.value() } });
      route();
    } catch (error) {
      $("page-error").textContent = error.message;
    }
  });
  return el("section", { class: "card" }, el("h2", {}, "Change"),
    el("p", { class: "muted" }, "A new window applies to the contacts waiting for the old one too."), form);
}

function progressCells(p) {
  return [p.waiting || 0, p.calling || 0, p.done || 0];
}

async function campaigns(page) {
  const [list, agents] = await Promise.all([api(biz("/campaigns?limit=200")), api(biz("/agents?limit=200"))]);
  const agentPick = el("select", { id: "campaign-agent", "aria-label": "Agent" },
    agents.items.map((a) => el("option", { value: a.id }, a.name)));
  const name = el("input", { id: "campaign-name", required: "", placeholder: "Order reminders" });
  const file = el("input", { id: "campaign-file", type: "file", accept: ".csv,text/csv", required: "" });
  const concurrent = el("input", { id: "campaign-concurrent", type: "number", min: "1", max: "1000", value: "5" });
  const hours = windowFields("campaign", { start: "09:00", end: "20:00", days: [0, 1, 2, 3, 4] });
  const report = el("div", { id: "campaign-report" });
  const form = el("form", { id: "campaign-form" },
    el("label", {}, "Name ", name), el("label", {}, "Agent ", agentPick),
    el("label", {}, "Calls at once ", concurrent),
    hours.node,
    el("label", {}, "Contacts (CSV: number, name, timezone, and the agent's {placeholders}) ", file),
    el("button", { type: "submit", class: "primary" }, "Create campaign"), report);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const made = await api(biz("/campaigns"), { method: "POST", json: {
        name: name.value, agent_id: agentPick.value, max_concurrent: Number(concurrent.value), window: hours.value() } });
      const text = await file.files[0].text();
      const taken = await api(biz(`/campaigns/${made.id}/contacts/import`), { method: "POST", csv: text });
      sessionStorage.setItem("voicegrid.import", JSON.stringify(taken));
      location.hash = "#/campaigns/" + made.id;
    } catch (error) {
      $("page-error").textContent = error.message;
    }
  });
  put(page,
    el("h1", {}, "Campaigns"),
    el("section", { class: "card" }, list.items.length === 0 ? el("p", { class: "muted" }, "No campaign yet.") :
      table(["Name", "State", "Waiting", "Calling", "Done", "Created"], list.items.map((c) => ({
        id: c.id, cells: [c.name, c.state, ...progressCells(c.progress), when(c.created_at)],
      })), { numeric: [2, 3, 4], onRow: (row) => { location.hash = "#/campaigns/" + row.id; } })),
    el("section", { class: "card" }, el("h2", {}, "New campaign"), form));
}

function importReport(taken) {
  const refused = taken.refused.slice(0, 50);
  return el("section", { class: "card", id: "import-report" }, el("h2", {}, "Imported"),
    el("p", {}, `${taken.added} contacts taken, ${taken.refused.length} refused` +
      (taken.ignored_columns.length ? `; columns ignored: ${taken.ignored_columns.join(", ")}` : "") + "."),
    refused.length === 0 ? null : table(["Row", "Value", "Why refused"], refused.map((r) => ({ cells: [r.row, r.value, r.reason] })),
      { numeric: [0] }));
}

async function campaignDetail(page, id) {
  const path = biz(`/campaigns/${encodeURIComponent(id)}`);
  const [c, contacts] = await Promise.all([api(path), api(`${path}/contacts?limit=200`)]);
  const taken = sessionStorage.getItem("voicegrid.import");
  sessionStorage.removeItem("voicegrid.import");
  const act = (move) => el("button", { type: "button", id: "campaign-" + move, onclick: async () => {
    try { await api(`${path}/${move}`, { method: "POST" }); route(); } catch (error) { $("page-error").textContent = error.message; }
  } }, move[0].toUpperCase() + move.slice(1));
  const p = c.progress;
  const r = c.results;  // from the ended calls' records
  put(page,
    el("div", { class: "toolbar" }, el("h1", {}, c.name), el("span", { id: "campaign-state", class: "muted" }, c.state),
      ...(MOVES[c.state] || []).map(act), exportButton(`${path}/export`, `campaign-${c.id}.csv`)),
    c.state_reason ? el("p", { class: "error", id: "campaign-reason" }, c.state_reason) : null,
    c.starts_at ? el("p", {}, "Starts by itself at ", el("strong", { id: "campaign-starts" }, when(c.starts_at)), ".") : null,
    c.state === "draft" || c.state === "scheduled" ? scheduleForm(path, c) : null,
    el("p", { class: "muted" }, "Calls ", el("span", { id: "campaign-window" }, windowText(c.window)),
      ", in each contact's own time; a contact waits for its window to open."),
    taken ? importReport(JSON.parse(taken)) : null,
    el("div", { class: "kpis" },
      kpi("Waiting", p.waiting || 0, "kpi-waiting"), kpi("Calling now", p.calling || 0, "kpi-calling"),
      kpi("Done", p.done || 0, "kpi-done"), kpi("Calls at once (most)", c.max_concurrent, "kpi-concurrent")),
    el("div", { class: "kpis" },
      kpi("Calls answered", `${r.answered} of ${r.calls}`, "kpi-answered"), kpi("Talk minutes", num(r.talk_minutes), "kpi-talk"),
      kpi("Cost", money(r.cost, 2), "kpi-cost"),
      kpi("Cost per success", r.analyzed ? money(r.cost_per_success, 2) : "not analysed", "kpi-cost-per-success")),
    el("div", { class: "grid" }, chart("chart-outcomes", "Done, by outcome")),
    ["draft", "scheduled", "paused"].includes(c.state) ? changeForm(path, c) : null,
    el("section", { class: "card" }, el("h2", {}, "Contacts"),
      table(["Row", "Number", "Name", "State", "Next try", "Outcome", "Attempts", "Calls"], contacts.items.map((k) => ({
        cells: [k.row, k.number, k.name || "–", k.state, when(k.next_at), k.outcome || "–", k.attempts,
          el("span", {}, k.calls.map((call) => el("a", { href: "#/calls/" + call.call_id }, call.outcome || call.state, " ")))],
      })), { numeric: [0, 6] })));
  const done = OUTCOMES.filter((o) => p["done:" + o]);
  plot(page, "chart-outcomes", [{ type: "bar", x: done, y: done.map((o) => p["done:" + o]), marker: { color: primary() } }]);
  if (c.state === "running") state.timer = setInterval(() => { if (location.hash === "#/campaigns/" + id) route(); }, 3000);
}

async function hangup(id) {
  try {
    await api(biz(`/calls/${encodeURIComponent(id)}/hangup`), { method: "POST" });
  } catch (error) {
    $("page-error").textContent = error.message;
  }
}

// ---- routing ---------------------------------------------------------------------------------

// Pages written as components (ui/*.mjs on Preact and htm): loaded when first shown.
function componentPage(module) {
  return async (page, id) => {
    const shown = await import(`/dashboard/ui/${module}.mjs`);
    const context = {
      api, biz, me: state.me, business: state.business, businessesChanged: chooseBusiness, token: () => state.token,
    };
    await shown.show(page, context, id);
  };
}

const PAGES = {
  overview, calls, providers, recommendations, live, campaigns, plan,
  agents: componentPage("agents"), numbers: componentPage("numbers"), businesses: componentPage("businesses"),
  settings: componentPage("settings"), reseller: componentPage("reseller"),
};
let rendering = 0;

async function route() {
  if (!state.me) return;
  clearInterval(state.timer);
  const hash = location.hash.replace(/^#\/?/, "");
  const [path] = hash.split("?");
  const [name, id] = path.split("/");
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === name);
  // Each render draws into its own container, attached at once (plotly measures it); a newer route
  // replaces it, and whatever the older one still draws lands in a detached node.
  const detail = { calls: "call", campaigns: "campaign", agents: "agent" }[name];
  const page = el("div", { id: "page", "data-page": id ? detail || name : name || "overview" });
  const mine = ++rendering;
  $("page").replaceWith(page);
  $("page-error").textContent = "";
  try {
    if (!state.business && !["businesses", "reseller"].includes(name)) throw new ApiError(404, "There is no business to show yet.");
    if (name === "calls" && id) await callDetail(page, decodeURIComponent(id));
    else if (name === "campaigns" && id) await campaignDetail(page, decodeURIComponent(id));
    else if (name === "agents" && id) await PAGES.agents(page, decodeURIComponent(id));
    else await (PAGES[name] || overview)(page);
    page.dataset.ready = "true";
  } catch (error) {
    if (error.status !== 401 && mine === rendering) $("page-error").textContent = error.message;
  }
}

function setUp() {
  const tabs = [["tab-user", "form-user"], ["tab-key", "form-key"]];
  for (const [tab, form] of tabs) {
    $(tab).addEventListener("click", () => {
      for (const [t, f] of tabs) { $(t).setAttribute("aria-selected", String(t === tab)); $(f).hidden = t !== tab; }
    });
  }
  $("form-user").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const signed = await api("/v1/sessions", { method: "POST", signingIn: true, json: { email: $("email").value, password: $("password").value } });
      $("password").value = "";
      await startWith(signed.token);
    } catch (error) {
      $("sign-in-error").textContent = error.status === 401 ? "Wrong email or password." : error.message;
    }
  });
  $("form-key").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await startWith($("api-key").value.trim());
      $("api-key").value = "";
    } catch (error) {
      $("sign-in-error").textContent = error.status === 401 ? "That key is unknown or revoked." : error.message;
    }
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("business").addEventListener("change", () => {
    state.business = $("business").value;
    sessionStorage.setItem(BUSINESS, state.business);
    route();
  });
  window.addEventListener("hashchange", route);
  if (state.token) startWith(state.token).catch(() => signOut("Sign in again."));
  else signOut("");
}

setUp();
