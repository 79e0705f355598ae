// The alexarules dashboard. Everything shown from the engine is rule or
// household data: it is put into the page as text (textContent, text
// nodes), never as HTML, so a rule name or a log line cannot run script.
"use strict";

const maxFeed = 200;
const $ = (id) => document.getElementById(id);

// el builds an element; strings and numbers among the children become
// text nodes, null and undefined are left out.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "onclick") e.addEventListener("click", v);
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// fmtTime shows a time briefly in the reader's time zone: the time of
// day for today, with the date otherwise.
function fmtTime(t) {
  if (!t) return "—";
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  if (d.toDateString() === new Date().toDateString()) return d.toLocaleTimeString();
  return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function json(v) {
  return el("pre", {}, JSON.stringify(v, null, 2));
}

function badge(text, cls) {
  return el("span", { class: "badge " + (cls || text) }, text);
}

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error) || path + ": HTTP " + r.status);
  return body;
}

function showError(where, err) {
  where.replaceChildren(el("p", { class: "bad" }, String(err.message || err)));
}

// ---- health, connections, gauges ----

async function loadHealth() {
  const h = $("health");
  try {
    const r = await fetch("/healthz");
    const body = await r.json();
    h.textContent = body.status;
    h.className = "badge " + (body.status === "ok" ? "ok" : "bad");
    h.title = body.alexa ? "Alexa: " + body.alexa.reason : (body.reload && !body.reload.ok ? body.reload.errors.join("\n") : "");
  } catch (err) {
    h.textContent = "unreachable";
    h.className = "badge bad";
  }
}

function gaugeValue(gauges, name) {
  const g = gauges.find((x) => x.name === name);
  return g ? g.value : undefined;
}

// systemCards are the connection figures a person looks for first; the
// full list of gauges is below them.
function systemCards(gauges) {
  const v = (n) => gaugeValue(gauges, n);
  const cards = [];
  const push = v("alexarules_push_connected");
  cards.push(["Push connection", push === undefined ? badge("off", "off") : push === 1 ? badge("connected", "ok") : badge("down", "bad"),
    v("alexarules_push_reconnects_total") !== undefined ? " " + v("alexarules_push_reconnects_total") + " reconnects" : null]);
  const budget = v("alexarules_poll_budget_requests_per_second");
  if (budget !== undefined) {
    const demand = v("alexarules_poll_demand_requests_per_second");
    cards.push(["Poller budget", budget.toFixed(3) + " req/s", el("span", { class: demand > budget ? "warn" : "muted" }, " (asked " + demand.toFixed(3) + ")")]);
    cards.push(["Poll interval", v("alexarules_poll_effective_interval_seconds") + " s",
      el("span", { class: "muted" }, " (configured " + v("alexarules_poll_interval_seconds") + " s, " + v("alexarules_poll_queued") + " queued)")]);
  } else {
    cards.push(["Poller", badge("off", "off")]);
  }
  const cooldown = v("alexarules_smarthome_cooldown_seconds");
  if (cooldown !== undefined) cards.push(["Smart-home cooldown", cooldown > 0 ? badge(cooldown.toFixed(0) + " s", "bad") : badge("none", "ok")]);
  const login = v("alexarules_alexa_login_required");
  if (login !== undefined) cards.push(["Alexa sign-in", login > 0 ? badge("login required", "bad") : badge("ok", "ok")]);
  return cards.map(([k, ...val]) => el("div", {}, el("dt", {}, k), el("dd", {}, val)));
}

async function loadSystem() {
  try {
    const gauges = await getJSON("/api/gauges");
    $("system").replaceChildren(...systemCards(gauges));
    $("gauges").tBodies[0].replaceChildren(...gauges.map((g) =>
      el("tr", { title: g.help }, el("td", {}, el("code", {}, g.name)), el("td", {}, String(g.value)))));
  } catch (err) {
    showError($("system"), err);
  }
}

// ---- rules ----

async function loadRules() {
  const body = $("rules").tBodies[0];
  try {
    const rules = await getJSON("/api/rules");
    body.replaceChildren(...rules.map(ruleRow));
    if (rules.length === 0) body.append(el("tr", {}, el("td", { colSpan: 7, class: "muted" }, "No rules loaded.")));
  } catch (err) {
    body.replaceChildren(el("tr", {}, el("td", { colSpan: 7, class: "bad" }, String(err.message))));
  }
}

function ruleRow(r) {
  const name = r.id || r.file;
  const row = el("tr", { class: r.id ? "clickable" : "", "data-rule": r.id || "" },
    el("td", {}, r.id ? el("button", { type: "button", class: "link" }, name) : name,
      r.error ? el("div", { class: "bad" }, r.error) : null,
      r.breaker ? el("div", { class: "warn" }, "breaker: " + r.breaker) : null),
    el("td", {}, badge(r.status)),
    el("td", {}, fmtTime(r.last_run)),
    el("td", {}, fmtTime(r.next_fire)),
    el("td", {}, r.runs), el("td", { class: r.failures ? "bad" : "" }, r.failures), el("td", {}, r.skipped));
  if (r.id) row.addEventListener("click", () => openRule(r.id));
  return row;
}

let openRuleID = null;

async function openRule(id) {
  openRuleID = id;
  $("rule-title").textContent = id;
  const sec = $("rule-section");
  sec.hidden = false;
  const rule = "/api/rules/" + encodeURIComponent(id);
  try {
    const [rules, state, timers, holds, next, runs] = await Promise.all([getJSON("/api/rules"),
      getJSON(rule + "/state"), getJSON("/api/timers?rule=" + encodeURIComponent(id)), getJSON(rule + "/holds"),
      getJSON(rule + "/next?count=5").catch(() => null), getJSON("/api/runs?limit=20&rule=" + encodeURIComponent(id))]);
    if (openRuleID !== id) return;
    const info = rules.find((r) => r.id === id);
    if (!info) throw new Error("rule " + id + " is no longer loaded");
    $("rule").replaceChildren(...ruleDetail(info, state.state, timers, holds, next, runs));
  } catch (err) {
    showError($("rule"), err);
  }
  sec.scrollIntoView({ block: "nearest" });
}

// ruleDetail is a rule's page: d as GET /api/rules lists it, its stored
// state, pending timers, running holds, next fires (null: not known
// here) and recent runs.
function ruleDetail(d, state, timers, holds, next, runs) {
  const spec = (i) => d.triggers[i] !== undefined ? d.triggers[i] : "trigger " + i;
  const fires = next ? next.fires : [];
  return [
    el("p", {}, badge(d.status), " ", el("code", {}, d.file), " · mode ", d.mode || "single",
      d.error ? el("div", { class: "bad" }, d.error) : null,
      d.breaker ? el("div", { class: "warn" }, "breaker: " + d.breaker) : null),
    el("p", {}, d.runs + " runs · ", el("span", { class: d.failures ? "bad" : "" }, d.failures + " failures"),
      " · " + d.skipped + " skipped · " + d.dropped + " dropped · last run " + fmtTime(d.last_run)),
    el("h3", {}, "Triggers"),
    el("ul", {}, d.triggers.map((t) => el("li", {}, el("code", {}, t)))),
    el("h3", {}, "Next fires"),
    fires.length ? table(["When", "Trigger", "Daylight saving"], fires.map((f) =>
      [fmtTime(f.time) + " (" + f.zone + ")", el("code", {}, f.trigger), f.dst || ""]))
      : el("p", { class: "muted" }, next ? "No schedule." : "Not known here."),
    el("h3", {}, "State"),
    state === null ? el("p", { class: "muted" }, "Nothing stored yet.") : json(state),
    el("h3", {}, "Pending timers"),
    timers.length ? table(["Handler", "Due", "Arguments"], timers.map((t) =>
      [t.handler, fmtTime(t.due), t.args === undefined ? "" : json(t.args)])) : el("p", { class: "muted" }, "None."),
    el("h3", {}, "Holds"),
    holds.length ? table(["Trigger", "Device", "Fires at"], holds.map((h) =>
      [el("code", {}, spec(h.trigger)), h.device || "—", fmtTime(h.due)])) : el("p", { class: "muted" }, "None."),
    el("h3", {}, "Recent runs"),
    runs.length ? el("ol", { class: "feed" }, runs.map(runItem)) : el("p", { class: "muted" }, "No runs yet."),
  ];
}

function table(head, rows) {
  return el("div", { class: "scroll" }, el("table", {},
    el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c)))))));
}

// ---- runs and traces ----

function runItem(t) {
  const li = el("li", { class: "clickable", "data-run": t.id },
    badge(t.outcome), " ", el("strong", {}, t.rule), t.handler ? " · " + t.handler : "",
    " ", el("span", { class: "muted" }, fmtTime(t.started) + " · " + Number(t.duration_ms).toFixed(1) + " ms"),
    t.reason ? el("div", { class: "warn" }, t.reason) : null,
    t.error ? el("div", { class: "bad" }, t.error) : null);
  li.addEventListener("click", (ev) => { ev.stopPropagation(); openTrace(t); });
  return li;
}

function openTrace(t) {
  $("trace-title").textContent = t.rule + " · " + t.id;
  const rows = (t.actions || []).map((a) => [el("code", {}, a.call), a.device || "—",
    a.args === undefined ? "" : json(a.args), a.result === undefined ? "" : json(a.result),
    a.sent === undefined ? "" : json(a.sent)]);
  $("trace").replaceChildren(...[
    el("p", {}, badge(t.outcome), " ", el("button", { type: "button", class: "link", onclick: () => openRule(t.rule) }, t.rule),
      t.handler ? " · handler " + t.handler : "", t.trigger ? " · trigger " + t.trigger : "", t.late ? " · late" : ""),
    el("p", { class: "muted" }, "started " + fmtTime(t.started) + " · " + Number(t.duration_ms).toFixed(1) + " ms",
      t.event_id ? " · event " + t.event_id : ""),
    t.reason ? el("p", { class: "warn" }, "Reason: " + t.reason) : null,
    t.error ? el("p", { class: "bad" }, "Error: " + t.error) : null,
    el("h3", {}, "Actions"),
    rows.length ? table(["Call", "Device", "Arguments", "Result", "Sent"], rows) : el("p", { class: "muted" }, "No actions."),
    el("h3", {}, "Log"),
    (t.log || []).length ? el("pre", { class: "log" }, t.log.join("\n")) : el("p", { class: "muted" }, "No log lines."),
  ].filter(Boolean));
  const sec = $("trace-section");
  sec.hidden = false;
  sec.scrollIntoView({ block: "nearest" });
}

// has tells whether a feed already shows the item with key's value: the
// live stream and the first load may both bring it.
function has(list, item, key) {
  const v = item.getAttribute(key);
  return [...list.children].some((c) => c.getAttribute(key) === v);
}

// prepend adds a live item on top; appendOlder adds the first load's
// items below what the stream brought meanwhile.
function prepend(list, item, key) {
  if (has(list, item, key)) return;
  list.prepend(item);
  while (list.children.length > maxFeed) list.lastChild.remove();
}

function appendOlder(list, items, key) {
  for (const item of items) if (!has(list, item, key)) list.append(item);
}

// loadFeed fills a live list with the latest items the API keeps.
async function loadFeed(path, id, item, key) {
  try {
    appendOlder($(id), (await getJSON(path)).map(item), key);
  } catch (err) {
    showError($(id), err);
  }
}

// ---- events ----

function eventItem(e) {
  const what = e.name || (e.device ? e.device.name || e.device.id : "");
  return el("li", { "data-event": e.id },
    el("strong", {}, e.kind), what ? " " + what : "", " ", el("span", { class: "muted" }, fmtTime(e.time)),
    e.data && Object.keys(e.data).length ? el("code", { class: "muted" }, " " + JSON.stringify(e.data)) : null);
}

// ---- live stream ----

let refreshTimer = null;

// refreshSoon reloads the rule table (and the open rule) once runs stop
// arriving for a moment, instead of once per run.
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    loadRules();
    if (openRuleID && !$("rule-section").hidden) openRule(openRuleID);
  }, 300);
}

function connect(delay) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(proto + "//" + location.host + "/api/stream");
  const live = $("live");
  ws.onopen = () => { live.textContent = "live"; live.className = "badge ok"; delay = 1000; };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "event") prepend($("events"), eventItem(msg.event), "data-event");
    else if (msg.type === "run") { prepend($("runs"), runItem(msg.run), "data-run"); refreshSoon(); }
    else if (msg.type === "dropped") {
      const p = $("dropped");
      p.hidden = false;
      p.textContent = msg.dropped + " live messages were missed (the page read too slowly); reload the page for the full lists.";
    }
  };
  ws.onclose = () => {
    live.textContent = "offline";
    live.className = "badge off";
    setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
  };
}

// ---- reload ----

async function reloadRules() {
  const out = $("reload-result");
  out.textContent = "reloading…";
  try {
    const r = await fetch("/api/reload", { method: "POST" });
    const body = await r.json().catch(() => ({}));
    out.className = r.ok ? "ok" : "bad";
    out.textContent = r.ok ? body.rules + " rules running" : (body.errors || [body.error || "HTTP " + r.status]).join("; ");
  } catch (err) {
    out.className = "bad";
    out.textContent = String(err.message);
  }
  loadRules();
  loadHealth();
}

function start() {
  for (const b of document.querySelectorAll("button[data-close]")) {
    b.addEventListener("click", () => {
      $(b.dataset.close).hidden = true;
      if (b.dataset.close === "rule-section") openRuleID = null;
    });
  }
  const reload = $("reload");
  reload.hidden = document.body.dataset.reload !== "on";
  reload.addEventListener("click", reloadRules);
  connect(1000);
  loadHealth(); loadSystem(); loadRules();
  loadFeed("/api/runs?limit=50", "runs", runItem, "data-run");
  loadFeed("/api/events?limit=50", "events", eventItem, "data-event");
  setInterval(() => { loadHealth(); loadSystem(); loadRules(); }, 5000);
}

start();
