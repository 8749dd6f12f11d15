// mmts control room: reads the JSON API with the token, follows the pushed stream, steers.
"use strict";

const state = {
  token: sessionStorage.getItem("mmts-token") || "",
  session: null,
  sessions: [],
  decisions: [],
  fills: [],
  status: {},
  socket: null,
  // Milliseconds from a decision (the session's wall clock) to its marker on this page.
  latencies: [],
};
window.mmts = state;

const $ = (id) => document.getElementById(id);
const fmt = (v, d = 4) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d));

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { ...options, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  if (response.status === 401) { showLogin("the token was refused"); throw new Error("401"); }
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

function showLogin(message) {
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== "login"; });
  $("login-error").textContent = message || "";
}

function showPage(name) {
  document.querySelectorAll(".page").forEach((p) => { p.hidden = p.id !== name; });
  document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  if (name === "models") { refreshModels(); refreshTraining(); }
  if (name === "system" || name === "controls") refreshSessions();
  if (name === "system") refreshModels().catch(() => {});  // the ledger's disk use
  window.dispatchEvent(new Event("resize"));  // Plotly sizes charts that were hidden
}

// -- market ----------------------------------------------------------------------------------

function markerTraces() {
  const buys = state.decisions.filter((d) => d.action === "BUY");
  const sells = state.decisions.filter((d) => d.action === "SELL");
  return [
    { x: buys.map((d) => d.iso), y: buys.map((d) => d.price), mode: "markers", name: "BUY", type: "scatter",
      marker: { symbol: "triangle-up", size: 9, color: "#16a34a" } },
    { x: sells.map((d) => d.iso), y: sells.map((d) => d.price), mode: "markers", name: "SELL", type: "scatter",
      marker: { symbol: "triangle-down", size: 9, color: "#dc2626" } },
    { x: state.fills.map((f) => f.iso), y: state.fills.map((f) => f.price), mode: "markers", name: "fill", type: "scatter",
      marker: { symbol: "x", size: 8, color: "#111827" } },
  ];
}

async function drawCandles() {
  if (!state.session) return;
  const tf = $("timeframe").value;
  const { body: bars } = await api(`/api/sessions/${state.session}/candles?tf=${tf}`);
  const candles = { type: "candlestick", name: tf, x: bars.map((b) => b.time), open: bars.map((b) => b.open),
    high: bars.map((b) => b.high), low: bars.map((b) => b.low), close: bars.map((b) => b.close) };
  // Opens on the latest 120 bars (and the decisions among them); zoom and pan go anywhere.
  const range = bars.length > 120 ? [bars[bars.length - 120].time, new Date(Date.parse(bars[bars.length - 1].time) + 60e3 * (tf === "1h" ? 60 : tf === "1m" ? 1 : 1 / 60) * 5).toISOString()] : undefined;
  const layout = { margin: { t: 20, r: 10, b: 30, l: 50 }, xaxis: { rangeslider: { visible: false }, range, autorange: range === undefined }, dragmode: "pan",
    showlegend: true, legend: { orientation: "h" }, uirevision: state.session + tf };
  await Plotly.react("candles", [candles, ...markerTraces()], layout, { scrollZoom: true, responsive: true });
  const el = $("candles");
  if (!el.dataset.bound) {
    el.dataset.bound = "1";
    el.on("plotly_relayout", (e) => { if (e["xaxis.range[0]"]) state.visibleRange = [e["xaxis.range[0]"], e["xaxis.range[1]"]]; });
  }
}

function addBars(bars) {
  const el = $("candles");
  if (!el.data || !bars.length) return;
  const last = el.data[0].x.length ? new Date(el.data[0].x[el.data[0].x.length - 1]).getTime() : 0;
  const fresh = bars.filter((b) => b.time / 1e6 > last);
  if (!fresh.length) return;
  Plotly.extendTraces("candles", { x: [fresh.map((b) => b.iso)], open: [fresh.map((b) => b.open)], high: [fresh.map((b) => b.high)],
    low: [fresh.map((b) => b.low)], close: [fresh.map((b) => b.close)] }, [0]);
}

function addBook(books) {
  const el = $("imbalance");
  if (!el.data || !books.length) return;
  const mas = (books[0].ma || []).length;
  if (el.data.length < 1 + mas) {  // the ledger had no rows yet: the MAs' lines start here
    const missing = [...Array(1 + mas - el.data.length).keys()].map((k) => el.data.length + k);
    Plotly.addTraces("imbalance", missing.map((k) => ({ x: [], y: [], name: `MA ${k}`, type: "scatter", mode: "lines" })));
  }
  const traces = el.data.length;
  const x = [], y = [];
  for (let k = 0; k < traces; k++) {
    x.push(books.map((b) => b.iso));
    y.push(books.map((b) => (k === 0 ? b.imbalance : (b.ma || [])[k - 1] ?? null)));
  }
  Plotly.extendTraces("imbalance", { x, y }, [...Array(traces).keys()], 3600);
  const last = books[books.length - 1];
  drawDepth(last.bid || [], last.ask || [], last.iso);
}

function drawDepth(bid, ask, at) {
  const n = Math.max(bid.length, ask.length);
  const levels = [...Array(n).keys()];
  return Plotly.react("depth", [
    { x: levels.map((k) => -k), y: bid, type: "bar", name: "bids", marker: { color: "#16a34a" } },
    { x: levels.map((k) => k), y: ask, type: "bar", name: "asks", marker: { color: "#dc2626" } },
  ], { title: { text: `depth buckets ${at || ""}`, font: { size: 12 } }, margin: { t: 30, r: 10, b: 30, l: 40 } }, { responsive: true });
}

function addMarkers(decisions, fills) {
  const el = $("candles");
  if (!el.data) return;
  const now = Date.now();
  const add = (index, rows) => {
    if (rows.length) Plotly.extendTraces("candles", { x: [rows.map((r) => r.iso)], y: [rows.map((r) => r.price)] }, [index]);
  };
  add(1, decisions.filter((d) => d.action === "BUY"));
  add(2, decisions.filter((d) => d.action === "SELL"));
  add(3, fills);
  for (const d of decisions) if (d.wall) state.latencies.push(now - d.wall / 1e6);
}

async function drawBook() {
  if (!state.session) return;
  const { body } = await api(`/api/sessions/${state.session}/book`);
  const traces = [{ x: body.time, y: body.imbalance, name: "imbalance", type: "scatter", mode: "lines" }];
  const mas = body.ma.length ? body.ma[0].length : 0;
  for (let k = 0; k < mas; k++) traces.push({ x: body.time, y: body.ma.map((m) => m[k]), name: `MA ${k + 1}`, type: "scatter", mode: "lines" });
  await Plotly.react("imbalance", traces, { title: { text: "order-book imbalance", font: { size: 12 } }, margin: { t: 30, r: 10, b: 30, l: 40 } }, { responsive: true });
  await drawDepth(body.bid, body.ask, body.at);
}

// -- portfolio, models, system -----------------------------------------------------------------

function cards(id, items) {
  $(id).innerHTML = items.map(([k, v]) => `<div class="card">${k}<b>${v}</b></div>`).join("");
}

function table(id, rows, columns) {
  $(id).querySelector("tbody").innerHTML = rows.map((r) => `<tr>${columns.map((c) => `<td>${r[c] ?? "–"}</td>`).join("")}</tr>`).join("");
}

function drawPortfolio() {
  const s = state.status;
  const fees = state.fills.reduce((a, f) => a + (f.fee || 0), 0);
  const equity = state.decisions.filter((d) => d.equity !== null && d.equity !== undefined);
  let peak = -Infinity;
  const drawdown = equity.map((d) => { peak = Math.max(peak, d.equity); return d.equity / peak - 1; });
  cards("portfolio-cards", [["position", fmt(s.position, 6)], ["equity", fmt(s.equity, 2)], ["fills", state.fills.length],
    ["fees", fmt(fees, 2)], ["working orders", s.working_orders ?? "–"], ["max drawdown", fmt(100 * Math.min(0, ...drawdown), 2) + " %"]]);
  Plotly.react("equity", [
    { x: equity.map((d) => d.iso), y: equity.map((d) => d.equity), name: "equity", type: "scatter" },
    { x: equity.map((d) => d.iso), y: drawdown.map((v) => 100 * v), name: "drawdown %", yaxis: "y2", type: "scatter" },
  ], { margin: { t: 20, r: 20, b: 30, l: 60 }, yaxis: { domain: [0.38, 1], title: { text: "equity" } },
    yaxis2: { domain: [0, 0.3], title: { text: "drawdown %" } }, showlegend: false }, { responsive: true });
  table("fills", state.fills.slice(-50).reverse().map((f) => ({ ...f, time: f.iso, qty: fmt(f.qty, 6), price: fmt(f.price, 2), fee: fmt(f.fee, 4) })),
    ["time", "qty", "price", "fee", "liquidity"]);
  table("orders", (s.open_orders || []).map((o) => ({ ...o, time: new Date(o.time / 1e6).toISOString() })), ["id", "time", "qty", "remaining", "limit", "state"]);
}

async function refreshModels() {
  if (!state.session) return;
  const { body } = await api(`/api/sessions/${state.session}/models`);
  state.disk = body.disk_bytes;
  const active = state.status.models || {}, shadows = state.status.shadows || {};
  const health = Object.entries(body.health.models || {}).map(([k, m]) => ({ model: k, ...m,
    accuracy: fmt(m.accuracy, 3), brier: fmt(m.brier, 3), confidence: fmt(m.confidence, 3) }));
  $("versions").innerHTML = Object.entries(active).map(([n, v]) => `<div class="card">${n}<b>${v}</b>${shadows[n] ? `shadow: ${shadows[n]}` : ""}</div>`).join("");
  table("health", health, ["model", "version", "outcomes", "accuracy", "brier", "confidence"]);
  table("promotions", body.promotions, ["time", "model", "event", "from_version", "to_version", "why"]);
  table("alerts", body.alerts.slice().reverse(), ["time", "severity", "kind", "subject", "reason"]);
  const weights = state.decisions.map((d) => { try { return JSON.parse(d.weights || "{}"); } catch { return {}; } });
  const names = [...new Set(weights.flatMap((w) => Object.keys(w)))];
  Plotly.react("weights", names.map((n) => ({ x: state.decisions.map((d) => d.iso), y: weights.map((w) => w[n] ?? null), name: n, type: "scatter", stackgroup: "w" })),
    { title: { text: "mixture weights", font: { size: 12 } }, margin: { t: 30, r: 10, b: 30, l: 40 } }, { responsive: true });
}

async function refreshTraining() {
  const { body } = await api("/api/training");
  $("training").querySelector("tbody").innerHTML = body.map((j) => `<tr><td>${j.id}</td><td>${j.model}</td><td>${j.state}</td>
    <td>${j.progress.epoch === null ? "–" : `${j.progress.epoch + 1}/${j.progress.epochs}`}</td><td>${fmt(j.progress.loss, 4)}</td>
    <td>${j.progress.metric_name} ${fmt(j.progress.metric, 4)}</td>
    <td>${j.state === "running" ? `<button data-stop-job="${j.id}">Stop</button>` : ""}</td></tr>`).join("");
  document.querySelectorAll("[data-stop-job]").forEach((b) => { b.onclick = async () => {
    if (!window.confirm(`Stop training job ${b.dataset.stopJob}?`)) return;
    await api(`/api/training/${b.dataset.stopJob}/stop`, { method: "POST", body: {} });
    await refreshTraining();
  }; });
}

function drawSystem() {
  const s = state.status;
  const lat = state.latencies.slice().sort((a, b) => a - b);
  const p95 = lat.length ? lat[Math.floor(0.95 * (lat.length - 1))] : null;
  cards("system-cards", [["feed", s.feed || "–"], ["clock offset ms", fmt(s.clock_offset_ms, 0)], ["latency p50 ms", fmt(s.latency_ms_p50, 2)],
    ["latency p99 ms", fmt(s.latency_ms_p99, 2)], ["ledger failed writes", s.ledger ? s.ledger.failed_writes : "–"],
    ["decision → page p95 ms", fmt(p95, 0)], ["decisions", s.decisions ?? "–"],
    ["ledger disk MB", state.disk === undefined ? "–" : fmt(state.disk / 1e6, 1)]]);
}

async function refreshSessions() {
  const { body } = await api("/api/sessions");
  state.sessions = body;
  const select = $("session");
  const current = state.session;
  select.innerHTML = body.map((s) => `<option value="${s.id}">${s.id} (${s.state})</option>`).join("");
  if (!current && body.length) state.session = body[body.length - 1].id;
  if (state.session) select.value = state.session;
  const mine = body.find((s) => s.id === state.session);
  $("session-state").textContent = mine ? `${mine.mode} · ${mine.state}` : "no session";
  table("processes", body, ["id", "experiment", "mode", "state", "pid", "restarts"]);
  const { body: history } = await api("/api/commands");
  table("commands", history.slice().reverse().map((h) => ({ ...h, when: new Date(h.wall / 1e6).toISOString(), args: JSON.stringify(h.args) })),
    ["when", "who", "what", "args", "result"]);
  if (mine && mine.buy_threshold) {
    if (!$("buy").dataset.touched) { $("buy").value = mine.buy_threshold; $("buy-value").textContent = mine.buy_threshold; }
    if (!$("sell").dataset.touched) { $("sell").value = mine.sell_threshold; $("sell-value").textContent = mine.sell_threshold; }
  }
  drawSystem();
}

// -- the stream ------------------------------------------------------------------------------

function follow() {
  if (state.socket) state.socket.close();
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/stream`);
  state.socket = socket;
  socket.onopen = () => socket.send(JSON.stringify({ token: state.token }));
  socket.onclose = (e) => {
    $("stream-state").textContent = `stream: closed${e.code === 4401 ? " (token refused)" : ""}`;
    if (e.code !== 4401 && state.socket === socket) setTimeout(follow, 2000);
  };
  socket.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (message.hello) { $("stream-state").textContent = "stream: live"; return; }
    if (message.session !== state.session) return;
    const decisions = [], fills = [], bars = [], books = [];
    const tf = $("timeframe").value;
    for (const line of message.lines) {
      const item = { ...line, iso: new Date(line.time / 1e6).toISOString() };
      if (line.type === "decision") { decisions.push(item); state.decisions.push(item); }
      else if (line.type === "fill") { fills.push(item); state.fills.push(item); }
      else if (line.type === "status") state.status = line;
      else if (line.type === "bar" && line.timeframe === tf) bars.push(item);
      else if (line.type === "book") books.push(item);
    }
    addBook(books);
    addBars(bars);
    addMarkers(decisions, fills);
    const last = state.decisions[state.decisions.length - 1];
    if (last) $("last-decision").textContent = `last: ${last.action} ${fmt(last.size)} at ${fmt(last.price, 2)} (buy ${last.buy_threshold}, sell ${last.sell_threshold})`;
    if (!$("portfolio").hidden) drawPortfolio();
    if (!$("system").hidden) drawSystem();
  };
}

async function loadSession() {
  if (!state.session) return;
  const [{ body: decisions }, { body: fills }, { body: detail }] = await Promise.all([
    api(`/api/sessions/${state.session}/decisions`), api(`/api/sessions/${state.session}/fills`), api(`/api/sessions/${state.session}`)]);
  state.decisions = decisions;
  state.fills = fills;
  state.status = detail.status || {};
  await drawCandles();
  await drawBook();
  drawPortfolio();
  drawSystem();
}

// -- controls --------------------------------------------------------------------------------

async function control(label, path, body) {
  if (!state.session) return;
  if (!window.confirm(`${label} for ${state.session}?`)) return;
  const { status, body: answer } = await api(`/api/sessions/${state.session}${path}`, { method: "POST", body });
  const ack = answer && answer.ack;
  $("control-result").textContent = `${label}: ${ack ? `${ack.result}: ${ack.detail}` : (answer.error || "sent, not acknowledged yet")} (${status})`;
  await refreshSessions();
}

function bind() {
  $("connect").onclick = async () => {
    state.token = $("token").value.trim();
    sessionStorage.setItem("mmts-token", state.token);
    await start();
  };
  document.querySelectorAll("header nav a").forEach((a) => { a.onclick = (e) => { e.preventDefault(); showPage(a.dataset.page); }; });
  $("timeframe").onchange = drawCandles;
  $("session").onchange = async () => { state.session = $("session").value; await refreshSessions(); await loadSession(); };
  for (const side of ["buy", "sell"]) {
    $(side).oninput = () => { $(side).dataset.touched = "1"; $(`${side}-value`).textContent = $(side).value; };
  }
  $("apply-thresholds").onclick = () => control("Set thresholds", "/thresholds", { buy: Number($("buy").value), sell: Number($("sell").value) });
  $("pause").onclick = () => control("Pause new entries", "/commands", { command: "pause" });
  $("resume").onclick = () => control("Resume", "/commands", { command: "resume" });
  $("flatten").onclick = () => control("Flatten", "/commands", { command: "flatten" });
  $("stop").onclick = () => control("Stop the session", "/stop", {});
  $("promote").onclick = () => control("Promote", "/commands", { command: "promote", args: { model: $("promote-model").value || "cnn", version: $("promote-version").value } });
  $("rollback").onclick = () => control("Roll back", "/commands", { command: "rollback", args: { model: $("promote-model").value || "cnn" } });
  $("train").onclick = async () => {
    const body = { experiment: $("train-experiment").value, model: $("train-model").value };
    if (!window.confirm(`Train ${body.model} of ${body.experiment}?`)) return;
    const { status, body: answer } = await api("/api/training", { method: "POST", body });
    $("control-result").textContent = status === 201 ? `training ${answer.id}` : `refused: ${answer.error}`;
    await refreshTraining();
  };
  $("start").onclick = async () => {
    const body = { experiment: $("new-experiment").value, exchange: $("new-exchange").value, ws_url: $("new-ws").value, rest_url: $("new-rest").value };
    if ($("new-duration").value) body.duration = Number($("new-duration").value);
    if (!window.confirm(`Start a paper session of ${body.experiment}?`)) return;
    const { status, body: answer } = await api("/api/sessions", { method: "POST", body });
    $("control-result").textContent = status === 201 ? `started ${answer.id}` : `refused: ${answer.error}`;
    if (status === 201) { state.session = answer.id; await refreshSessions(); await loadSession(); }
  };
}

async function start() {
  if (!state.token) { showLogin(); return; }
  try {
    await refreshSessions();
  } catch (e) { return; }
  showPage((location.hash || "#market").slice(1));
  await loadSession();
  follow();
  setInterval(() => { refreshSessions().catch(() => {}); }, 5000);
  setInterval(() => { if (!$("models").hidden) refreshTraining().catch(() => {}); }, 3000);
}

bind();
start();
