// tune-jobs dashboard: each page asks its JSON endpoint every few seconds and redraws in place.
"use strict";
const page = document.body.dataset;
const refreshMs = Number(page.refresh) || 2000;
const main = document.getElementById("main");
const ui = { sort: "best", descending: null, status: "all", built: false };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}
function fmt(v) {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4));
  return String(v);
}
function statusSpan(s) { return el("span", { class: "status-" + s }, s || ""); }
async function get(url) {
  const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}
const jobUrl = (key) => "/job/" + encodeURIComponent(key);
const plotConfig = { responsive: true, displaylogo: false };
function plot(id, traces, layout) {
  Plotly.react(id, traces, Object.assign({ uirevision: "keep", margin: { l: 55, r: 15, t: 30, b: 40 }, hovermode: "closest" }, layout), plotConfig);
}
function card(title, id, extra) { return el("div", { class: "card" }, el("h2", {}, title), extra || "", el("div", { id, class: "chart" })); }

// ---- the jobs list
async function jobsTick() {
  const jobs = await get("/api/jobs");
  const rows = jobs.map((j) => el("tr", {},
    el("td", {}, el("a", { href: jobUrl(j.key) }, j.name)), el("td", {}, statusSpan(j.status)),
    el("td", { class: "num" }, fmt(j.trials)), el("td", {}, j.planned ? el("progress", { max: j.planned, value: (j.counts ? (j.counts.completed || 0) + (j.counts.stopped || 0) + (j.counts.failed || 0) : 0) }) : ""),
    el("td", {}, j.counts ? Object.entries(j.counts).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ") : (j.error || "")),
    el("td", { class: "num" }, j.best ? fmt(j.best.value) : ""), el("td", {}, j.metric ? `${j.metric} (${j.mode})` : ""),
    el("td", {}, `${j.search || ""} / ${j.scheduler || ""}`), el("td", {}, j.start_time || "")));
  main.replaceChildren(el("h1", {}, "Jobs ", el("span", { id: "job-count", class: "note" }, String(jobs.length))),
    el("table", { id: "jobs" }, el("tr", {}, ...["job", "status", "trials", "progress", "by status", "best", "metric", "search / scheduler", "started"].map((h) => el("th", {}, h))), ...rows));
}

// ---- one job
function buildJobPage(job) {
  document.getElementById("crumbs").replaceChildren(" / ", job.name);
  const select = el("select", { id: "status-filter", onchange: (e) => { ui.status = e.target.value; lastJob && drawTable(lastJob); } },
    ...["all", "running", "paused", "completed", "stopped", "failed"].map((s) => el("option", { value: s }, s)));
  main.replaceChildren(
    el("h1", {}, job.name, " ", el("span", { id: "job-status" })),
    el("div", { class: "facts", id: "facts" }),
    el("div", { class: "grid" },
      card("Learning curves (" + job.metric + "): x stopped, \u25B2 promoted, \u25C6 copied (PBT)", "curves"),
      card("Best so far", "best-over-time"),
      card("Parallel coordinates", "parallel"),
      card("Importance", "importance", el("p", { id: "importance-note", class: "note" })),
      card("Scheduler", "rungs", el("p", { id: "rungs-note", class: "note" })),
      ...(job.pareto ? [card("Pareto front", "pareto", el("p", { id: "pareto-note", class: "note" }))] : [])),
    el("h2", {}, "Trials ", select),
    el("div", { class: "scroll" }, el("table", { id: "trials" })));
  ui.built = true;
}
let lastJob = null;
function drawTable(job) {
  const keys = job.searched;
  const columns = [["trial_id", "trial"], ["status", "status"], ["iterations", "iterations"], ["best", "best " + job.metric],
    ["last", "last"], ["time_total_s", "seconds"], ...keys.map((k) => ["config." + k, k])];
  const value = (t, c) => (c.startsWith("config.") ? t.config[c.slice(7)] : t[c]);
  const descending = ui.descending ?? (ui.sort === "best" ? job.mode === "max" : false);
  const shown = job.trials_table.filter((t) => ui.status === "all" || t.status === ui.status).sort((a, b) => {
    const x = value(a, ui.sort), y = value(b, ui.sort);
    if (x === y) return 0; if (x === null || x === undefined) return 1; if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * (descending ? -1 : 1);
  });
  const header = el("tr", {}, ...columns.map(([c, label]) => el("th", { onclick: () => {
    ui.descending = ui.sort === c ? !descending : null; ui.sort = c; drawTable(job); } }, label + (ui.sort === c ? (descending ? " \u25BC" : " \u25B2") : ""))));
  const rows = shown.map((t) => el("tr", { class: "trial-row" }, ...columns.map(([c]) => {
    const v = value(t, c);
    if (c === "trial_id") return el("td", {}, el("a", { href: jobUrl(page.job) + "/trial/" + encodeURIComponent(v) }, v));
    if (c === "status") return el("td", { title: t.error || "" }, statusSpan(v));
    return el("td", { class: typeof v === "number" ? "num" : "" }, fmt(v));
  })));
  document.getElementById("trials").replaceChildren(header, ...rows);
}
function drawCurves(job) {
  const traces = [];
  let points = 0;
  for (const [id, curve] of Object.entries(job.curves)) {
    points += curve.steps.length;
    traces.push({ x: curve.steps, y: curve.values, name: id, mode: "lines", line: { width: 1 }, opacity: 0.75,
      hovertemplate: id + "<br>iteration %{x}<br>" + job.metric + " %{y}<extra></extra>", showlegend: false });
  }
  const marks = { stopped: ["x", "#c22"], promoted: ["triangle-up", "#1b8a3a"], exploited: ["diamond", "#7b3fbf"] };
  for (const [event, [symbol, color]] of Object.entries(marks)) {
    const found = job.events.filter((e) => e.event === event && job.curves[e.trial_id]);
    if (!found.length) continue;
    const y = found.map((e) => { const c = job.curves[e.trial_id]; const i = c.steps.indexOf(e.iteration); return i >= 0 ? c.values[i] : null; });
    traces.push({ x: found.map((e) => e.iteration), y, mode: "markers", name: event, marker: { symbol, color, size: 8 },
      text: found.map((e) => e.trial_id + (e.copied_from ? " copied " + e.copied_from : "")), hovertemplate: "%{text}<br>" + event + " at %{x}<extra></extra>" });
  }
  plot("curves", traces, { xaxis: { title: { text: "iteration" } }, yaxis: { title: { text: job.metric } } });
  document.body.dataset.points = String(points);
}
function drawParallel(job) {
  const trials = job.trials_table.filter((t) => t.best !== null);
  if (!trials.length || !job.searched.length) { Plotly.purge("parallel"); return; }
  const dimensions = job.searched.map((k) => {
    const values = trials.map((t) => t.config[k]);
    if (values.every((v) => typeof v === "number")) return { label: k, values };
    const labels = [...new Set(values.map(String))];
    return { label: k, values: values.map((v) => labels.indexOf(String(v))), tickvals: labels.map((_, i) => i), ticktext: labels };
  });
  dimensions.push({ label: job.metric, values: trials.map((t) => t.best) });
  Plotly.react("parallel", [{ type: "parcoords", dimensions, line: { color: trials.map((t) => t.best), colorscale: "Viridis", showscale: true, reversescale: job.mode === "min" } }],
    { uirevision: "keep", margin: { l: 50, r: 50, t: 40, b: 20 } }, plotConfig);
}
function drawImportance(job) {
  const shares = Object.entries(job.importance.shares || {});
  document.getElementById("importance-note").textContent = shares.length ? "" : job.importance.note;
  if (!shares.length) { Plotly.purge("importance"); return; }
  plot("importance", [{ type: "bar", orientation: "h", x: shares.map(([, v]) => v), y: shares.map(([k]) => k) }],
    { yaxis: { autorange: "reversed" }, xaxis: { title: { text: "share of variance (fANOVA)" } } });
}
function drawPareto(job) {
  if (!job.pareto) return;
  const [a, b] = Object.keys(job.pareto.objectives);
  const groups = [["on the front", (p) => p.front, { size: 10, color: "#c22" }, "lines+markers"],
    ["dominated", (p) => p.feasible && !p.front, { size: 7, color: "#8a93a3" }, "markers"],
    ["infeasible", (p) => !p.feasible, { size: 7, color: "#a66a00", symbol: "x" }, "markers"]];
  const traces = groups.map(([name, keep, marker, mode]) => {
    const points = job.pareto.points.filter(keep).sort((p, q) => p.values[a] - q.values[a]);
    return { name, mode, marker, line: { shape: "hv", width: 1 }, x: points.map((p) => p.values[a]), y: points.map((p) => p.values[b]),
      text: points.map((p) => p.trial_id), hovertemplate: "%{text}<br>" + a + " %{x}<br>" + b + " %{y}<extra></extra>" };
  });
  const front = job.pareto.points.filter((p) => p.front).length;
  document.getElementById("pareto-note").textContent = `${front} of ${job.pareto.points.length} trials on the front` +
    (job.pareto.constraints.length ? `, subject to ${job.pareto.constraints.join(", ")}` : "") +
    (Object.keys(job.pareto.objectives).length > 2 ? ` (drawn: the first two of ${Object.keys(job.pareto.objectives).length} objectives)` : "");
  plot("pareto", traces, { xaxis: { title: { text: `${a} (${job.pareto.objectives[a]})` } }, yaxis: { title: { text: `${b} (${job.pareto.objectives[b]})` } } });
}
function drawScheduler(job) {
  const copies = job.events.filter((e) => e.event === "exploited");
  const note = document.getElementById("rungs-note");
  if (job.rungs.length) {
    note.textContent = job.scheduler + ": trials that reached each rung";
    plot("rungs", [{ type: "bar", x: job.rungs.map((r) => String(r.iteration)), y: job.rungs.map((r) => r.reached),
      text: job.rungs.map((r) => `${r.reached} of ${r.of}`), hovertemplate: "rung %{x}: %{text}<extra></extra>" }],
      { xaxis: { title: { text: "rung (iteration)" }, type: "category" }, yaxis: { title: { text: "trials" } } });
  } else if (copies.length) {
    note.textContent = "PBT lineage: each copy, from the trial copied to the trial that took its weights";
    const ids = [...new Set(copies.flatMap((e) => [e.trial_id, e.copied_from]))];
    plot("rungs", [{ mode: "markers+lines", x: copies.flatMap((e) => [e.iteration, e.iteration, null]),
      y: copies.flatMap((e) => [e.copied_from, e.trial_id, null]), hovertemplate: "%{y} at %{x}<extra></extra>" }],
      { xaxis: { title: { text: "iteration" } }, yaxis: { type: "category", categoryarray: ids } });
  } else {
    note.textContent = job.scheduler + ": no rungs or copies to show";
    Plotly.purge("rungs");
  }
}
async function jobTick() {
  const job = await get("/api/job/" + encodeURIComponent(page.job));
  if (!ui.built) buildJobPage(job);
  lastJob = job;
  document.getElementById("job-status").replaceChildren(statusSpan(job.status));
  const counts = Object.entries(job.counts || {}).filter(([, n]) => n).map(([s, n]) => `${n} ${s}`).join(", ");
  document.getElementById("facts").replaceChildren(
    el("span", {}, "trials ", el("b", { id: "trial-count" }, String(job.trials)), job.planned ? ` of ${job.planned}` : ""),
    el("span", {}, counts), el("span", {}, "best ", el("b", {}, job.best ? fmt(job.best.value) : "-"), ` ${job.metric} (${job.mode})`),
    el("span", {}, `${job.trainable}, ${job.search} search, ${job.scheduler}`), el("span", { class: "note" }, job.directory));
  drawCurves(job);
  plot("best-over-time", [{ x: job.best_over_time.seconds, y: job.best_over_time.best, mode: "lines", line: { shape: "hv" } }],
    { xaxis: { title: { text: "seconds since the first result" } }, yaxis: { title: { text: "best " + job.metric } } });
  drawParallel(job);
  drawImportance(job);
  drawScheduler(job);
  drawPareto(job);
  drawTable(job);
  return job.status;
}

// ---- one trial
async function trialTick() {
  const t = await get("/api/job/" + encodeURIComponent(page.job) + "/trial/" + encodeURIComponent(page.trial));
  document.getElementById("crumbs").replaceChildren(" / ", el("a", { href: jobUrl(page.job) }, t.name), " / ", t.trial_id);
  if (!ui.built) {
    main.replaceChildren(el("h1", {}, "Trial " + t.trial_id, " ", el("span", { id: "trial-status" })), el("div", { class: "facts", id: "facts" }),
      el("div", { class: "grid" }, card("Curves (click a name to show or hide it)", "trial-curves"),
        el("div", { class: "card" }, el("h2", {}, "Config"), el("table", { id: "config" }))),
      el("h2", {}, "Diagnosis"), el("ul", { id: "diagnosis" }), el("h2", {}, "Checkpoints"), el("ul", { id: "checkpoints" }));
    ui.built = true;
  }
  document.getElementById("trial-status").replaceChildren(statusSpan(t.status));
  document.getElementById("facts").replaceChildren(el("span", {}, "iterations ", el("b", { id: "trial-iterations" }, fmt(t.iterations))),
    el("span", {}, "best ", el("b", {}, fmt(t.best)), " " + t.metric), el("span", { class: "note" }, t.error || ""));
  document.getElementById("config").replaceChildren(...Object.entries(t.config).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, fmt(v)))));
  document.getElementById("diagnosis").replaceChildren(...t.diagnosis.map((f) => el("li", {}, el("b", {}, f.kind), ": " + f.detail)));
  document.getElementById("checkpoints").replaceChildren(...(t.checkpoints.length ? t.checkpoints : ["none kept"]).map((c) => el("li", {}, c)));
  const shown = new Set([t.metric, "train_loss", "val_loss"]);
  plot("trial-curves", Object.entries(t.history.metrics).map(([m, values]) => ({ x: t.history.steps, y: values, name: m, mode: "lines+markers",
    visible: shown.has(m) ? true : "legendonly" })), { xaxis: { title: { text: "iteration" } } });
  return t.status;
}

async function loop() {
  const tick = { jobs: jobsTick, job: jobTick, trial: trialTick }[page.page];
  let status = null;
  try {
    status = await tick();
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    main.replaceChildren(el("p", { class: "note", id: "error" }, String(error.message || error)));
    ui.built = false;
  }
  const settled = status && !["running", "paused"].includes(status) && page.page !== "jobs";
  setTimeout(loop, settled ? 5 * refreshMs : refreshMs);
}
loop();
