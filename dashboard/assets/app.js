// The dashboard page: polls /api/runs every second, asks /api/search for
// what changed in each search whose version moved, and redraws that
// search's panel. Charts are SVG built here; every text from a run goes
// in through textContent, never as markup.
"use strict";

const POLL_MS = 1000;
const SVG = "http://www.w3.org/2000/svg";
const searches = new Map(); // id -> {info, epoch, version, trials: Map, updates: [], top: [], panel}
const charts = new Map(); // group id -> element

function el(tag, attrs, ...kids) {
  const e = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

const fmt = (v, d = 4) => (v === null || v === undefined || Number.isNaN(v)) ? "—" : Number(v).toFixed(d);

function dur(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "—";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(r).padStart(2, "0")}s` : `${r}s`;
}

function statusBadge(s) { return el("span", {class: "status " + s, text: s}); }

function methodClass(m) { return m === "rl" ? "rl" : m === "random" ? "random" : "other"; }
const colour = (m) => getComputedStyle(document.documentElement).getPropertyValue("--" + methodClass(m)).trim() || "#6a3d9a";

// ---- charts ---------------------------------------------------------------

// chart draws series on shared axes. A series is {kind: "dots"|"rings"|"step"|"line"|"crosses", pts: [[x,y]...], colour}.
function chart(series, opt) {
  const W = opt.width || 520, H = opt.height || 220, L = 48, R = 10, T = 10, B = 28;
  // Loops, not Math.min(...xs): a search may have far more points than a
  // call may have arguments.
  let xmin = 0, xmax = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) for (const p of s.pts) {
    xmin = Math.min(xmin, p[0]); xmax = Math.max(xmax, p[0]);
    if (s.kind !== "crosses") { y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]); }
  }
  if (y0 === Infinity) { y0 = 0; y1 = 1; }
  const x0 = opt.x0 ?? xmin, x1 = Math.max(opt.x1 ?? 1, xmax, x0 + 1);
  if (y1 - y0 < 1e-9) { y0 -= 0.05; y1 += 0.05; }
  const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad;
  // Enough decimals that the five tick labels differ.
  const digits = Math.min(6, Math.max(0, Math.ceil(-Math.log10((y1 - y0) / 4)) + 1));
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B);
  const svg = el("svg:svg", {class: "chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opt.label || "chart"});
  for (let i = 0; i <= 4; i++) {
    const y = y0 + (y1 - y0) * i / 4;
    svg.append(el("svg:path", {class: "grid", d: `M${L} ${sy(y).toFixed(1)}H${W - R}`}));
    svg.append(el("svg:text", {x: L - 4, y: sy(y) + 4, "text-anchor": "end", text: y.toFixed(digits)}));
  }
  for (let i = 0; i <= 4; i++) {
    const x = x0 + (x1 - x0) * i / 4;
    svg.append(el("svg:text", {x: sx(x), y: H - 12, "text-anchor": "middle", text: String(Math.round(x))}));
  }
  svg.append(el("svg:path", {class: "axis", d: `M${L} ${T}V${H - B}H${W - R}`}));
  svg.append(el("svg:text", {x: W - R, y: H - 1, "text-anchor": "end", text: opt.xlabel || ""}));
  for (const s of series) {
    if (!s.pts.length) continue;
    let d = "";
    if (s.kind === "dots") {
      for (const [x, y] of s.pts) d += `M${sx(x).toFixed(1)} ${sy(y).toFixed(1)}h0`;
      svg.append(el("svg:path", {class: "dots", d, stroke: s.colour, "stroke-opacity": s.opacity ?? 0.55}));
    } else if (s.kind === "rings") {
      for (const [x, y] of s.pts) d += `M${(sx(x) - 2.5).toFixed(1)} ${sy(y).toFixed(1)}a2.5 2.5 0 1 0 5 0a2.5 2.5 0 1 0 -5 0`;
      svg.append(el("svg:path", {class: "rings", d, stroke: s.colour}));
    } else if (s.kind === "crosses") {
      const yb = H - B - 4;
      for (const [x] of s.pts) { const cx = sx(x); d += `M${cx - 3} ${yb - 3}l6 6m0 -6l-6 6`; }
      svg.append(el("svg:path", {class: "fails", d}));
    } else {
      let prev = null;
      for (const [x, y] of s.pts) {
        const X = sx(x).toFixed(1), Y = sy(y).toFixed(1);
        if (prev === null) d += `M${X} ${Y}`;
        else d += s.kind === "step" ? `H${X}V${Y}` : `L${X} ${Y}`;
        prev = [X, Y];
      }
      if (s.kind === "step" && opt.x1 !== undefined) d += `H${sx(x1).toFixed(1)}`;
      svg.append(el("svg:path", {class: "best", d, stroke: s.colour, "stroke-dasharray": s.dash || null}));
    }
  }
  return svg;
}

function legend(items) {
  return el("div", {class: "legend muted"}, ...items.map(([c, t]) => {
    const sw = el("span", {class: "swatch"}); sw.style.background = c;
    return el("span", {}, sw, t);
  }));
}

// rewardSeries returns the dots, failure crosses and running best (by trial
// id) of a search, and the rings of trials stopped at a rung (multi-fidelity):
// their rewards are the controller's estimates, never a best.
function rewardSeries(s) {
  const ids = [...s.trials.keys()].sort((a, b) => a - b);
  const dots = [], fails = [], best = [], stopped = [];
  let b = null;
  for (const id of ids) {
    const t = s.trials.get(id);
    if (t.status === "finished") {
      dots.push([id, t.reward]);
      if (b === null || t.reward > b) { b = t.reward; best.push([id, b]); }
    } else if (t.status === "failed") fails.push([id, 0]);
    else if (t.status === "stopped" && t.reward !== undefined && t.reward !== null) stopped.push([id, t.reward]);
  }
  return {dots, fails, best, stopped};
}

// ---- search panels ----------------------------------------------------------

function groupBox(info) {
  let g = document.querySelector(`.group[data-group="${CSS.escape(info.group)}"]`);
  if (!g) {
    g = el("section", {class: "group", "data-group": info.group},
      el("div", {class: "compare"}), el("div", {class: "panels"}));
    document.getElementById("groups").append(g);
  }
  return g;
}

function panel(s) {
  if (s.panel && s.panel.isConnected) return s.panel;
  const g = groupBox(s.info);
  s.panel = el("div", {class: "panel " + methodClass(s.info.method), "data-run": s.info.id});
  // RL first, then random, then anything else, so the two read side by side.
  const rank = (e) => ({rl: 0, random: 1})[searches.get(e.dataset.run)?.info.method] ?? 2;
  const kids = [...g.querySelector(".panels").children, s.panel]
    .sort((a, b) => rank(a) - rank(b) || a.dataset.run.localeCompare(b.dataset.run));
  g.querySelector(".panels").replaceChildren(...kids);
  return s.panel;
}

function drawSearch(s) {
  const info = s.info, p = panel(s);
  const c = colour(info.method);
  const {dots, fails, best, stopped} = rewardSeries(s);
  const x1 = Math.max(info.budget || 0, s.trials.size);
  const kids = [
    el("h3", {}, `${info.dir} `, el("span", {class: "muted", text: `(${info.method || "?"}) `}), statusBadge(info.status)),
    el("div", {class: "muted"}, `${info.done} / ${info.budget || "?"} trials, best ${fmt(info.best)}`
      + (info.best_trial >= 0 ? ` (trial ${info.best_trial})` : "") + `, CPU ${dur(info.cpu_s)}`),
  ];
  if (info.error) kids.push(el("div", {class: "warn", text: "error: " + info.error}));
  if (info.bad_lines) kids.push(el("div", {class: "warn", text: `${info.bad_lines} undecodable journal line(s) skipped; last: ${info.last_bad}`}));
  kids.push(chart([
    {kind: "dots", pts: dots, colour: c},
    {kind: "rings", pts: stopped, colour: c},
    {kind: "crosses", pts: fails},
    {kind: "step", pts: best, colour: c},
  ], {x1, xlabel: "trial", label: "reward by trial of " + info.dir}));
  const keys = [[c, "reward (dot) and best so far (line)"]];
  if (stopped.length) keys.push([c, "○ stopped at a rung (estimated reward)"]);
  keys.push(["#888", "× failed"]);
  kids.push(legend(keys));

  if (s.updates.length) {
    const ent = s.updates.filter(u => u.entropy !== undefined).map(u => [u.step, u.entropy]);
    const base = s.updates.filter(u => u.baseline !== undefined).map(u => [u.step, u.baseline]);
    const mean = s.updates.filter(u => u.mean_reward !== undefined).map(u => [u.step, u.mean_reward]);
    kids.push(el("h3", {text: `controller: ${s.updates.length} updates`}));
    kids.push(el("div", {class: "controller"},
      chart([{kind: "line", pts: ent, colour: c}], {height: 140, xlabel: "update", label: "entropy per update"}),
      legend([[c, "mean entropy of the batch the update learned from"]]),
      chart([{kind: "line", pts: base, colour: "#333"}, {kind: "line", pts: mean, colour: c, dash: "4 3"}],
        {height: 140, xlabel: "update", label: "baseline per update"}),
      legend([["#333", "baseline"], [c, "batch mean reward (dashed)"]])));
  }

  // The latest trials, newest id first.
  const ids = [...s.trials.keys()].sort((a, b) => b - a).slice(0, 8);
  const interrupted = info.status !== "running";
  kids.push(el("h3", {text: "latest trials"}));
  kids.push(el("table", {class: "grid recent"},
    el("thead", {}, el("tr", {}, el("th", {text: "trial"}), el("th", {text: "status"}), el("th", {text: "reward"}),
      el("th", {text: "CPU s"}), el("th", {text: "wall s"}))),
    el("tbody", {}, ...ids.map(id => {
      const t = s.trials.get(id);
      let st = t.status;
      if (interrupted && (st === "running" || st === "proposed")) st += " (interrupted)";
      const unit = info.unit || "epochs";
      const epochs = t.epochs === 1 ? `1 ${unit.replace(/s$/, "")}` : `${t.epochs} ${unit}`;
      if (t.epochs && t.status === "stopped") st += ` after ${epochs}`;
      else if (t.epochs && t.status === "running") st += ` (${epochs} done)`;
      return el("tr", {"data-trial": id}, el("td", {text: String(id)}), el("td", {text: st}),
        el("td", {text: fmt(t.reward)}), el("td", {text: fmt(t.cpu_s, 1)}), el("td", {text: fmt(t.wall_s, 1)}));
    }))));

  const failed = [...s.trials.values()].filter(t => t.status === "failed").sort((a, b) => a.id - b.id);
  const MAX_FAILED = 100; // the latest; the journal has them all
  if (failed.length) {
    kids.push(el("h3", {text: `failed trials (${failed.length})` + (failed.length > MAX_FAILED ? `, the last ${MAX_FAILED}` : "")}));
    kids.push(el("div", {class: "fail-list"}, el("table", {class: "grid"},
      el("tbody", {}, ...failed.slice(-MAX_FAILED).map(t => el("tr", {"data-failed": t.id},
        el("td", {text: String(t.id)}), el("td", {class: "text", text: t.reason || "(no reason journaled)"})))))));
  }

  if (s.top.length) {
    kids.push(el("h3", {text: "best patterns so far"}));
    kids.push(el("div", {class: "top"}, ...s.top.map((tp, i) => el("div", {class: "pattern"},
      el("div", {}, `#${i + 1} trial ${tp.trial}, reward ${fmt(tp.reward)} `, el("a", {href: tp.download, text: "download"})),
      ...(tp.sites || []).map(st => el("div", {class: "site"},
        el("div", {title: st.pattern, text: st.site}),
        el("img", {src: st.mask, alt: `masks of ${st.site}`, loading: "lazy"}))),
      tp.text ? el("pre", {text: tp.text}) : null))));
  }
  if (info.top && info.top.length) {
    kids.push(el("div", {class: "muted"}, "top/ files: ",
      ...info.top.flatMap(l => [el("a", {href: l.url + "?download=1", text: l.name}), " "])));
  }
  p.replaceChildren(...kids);
  drawCompare(info.group);
}

// drawCompare puts the running best of every search of a group on one chart
// when there are several (RL and random side by side).
function drawCompare(group) {
  const members = [...searches.values()].filter(s => s.info.group === group);
  const g = groupBox(members[0].info).querySelector(".compare");
  if (members.length < 2) { g.replaceChildren(); return; }
  const series = [], items = [];
  let x1 = 1;
  for (const s of members) {
    const c = colour(s.info.method);
    series.push({kind: "step", pts: rewardSeries(s).best, colour: c});
    items.push([c, `${s.info.dir} (${s.info.method})`]);
    x1 = Math.max(x1, s.info.budget || 0, s.trials.size);
  }
  g.replaceChildren(el("h3", {text: "best reward so far, by trial"}),
    chart(series, {x1, width: 720, height: 200, xlabel: "trial", label: "running best of the searches side by side"}), legend(items));
}

async function syncSearch(info) {
  let s = searches.get(info.id);
  if (!s) {
    s = {info, epoch: 0, version: 0, trials: new Map(), updates: [], top: [], panel: null};
    searches.set(info.id, s);
  }
  const statusChanged = s.info.status !== info.status;
  s.info = info;
  if (s.epoch === info.epoch && s.version === info.version && s.panel && !statusChanged) return;
  if (s.epoch !== info.epoch || s.version !== info.version) {
    const r = await fetch(`/api/search?run=${encodeURIComponent(info.id)}&epoch=${s.epoch}&since=${s.version}`);
    if (!r.ok) throw new Error(`${info.dir}: ${r.status} ${await r.text()}`);
    const d = await r.json();
    if (d.reset) { s.trials = new Map(); s.updates = []; }
    for (const t of d.trials) s.trials.set(t.id, t);
    s.updates.push(...d.updates);
    s.top = d.top;
    s.epoch = d.epoch; s.version = d.version;
  }
  drawSearch(s);
}

// ---- overview and collections ----------------------------------------------

function overviewRow(info) {
  const bar = el("span", {class: "bar"}, el("span"));
  bar.firstChild.style.width = info.budget ? Math.min(100, 100 * info.done / info.budget) + "%" : "0";
  const files = [];
  if (info.journal) files.push(el("a", {href: info.journal, text: "journal"}));
  if (info.summary) files.push(" ", el("a", {href: info.summary, text: "summary"}));
  return el("tr", {"data-run": info.id},
    el("td", {text: info.dir}), el("td", {text: info.method || "?"}), el("td", {}, statusBadge(info.status)),
    el("td", {class: "done"}, `${info.done} / ${info.budget || "?"}`, bar),
    el("td", {text: String(info.running)}), el("td", {text: String(info.failed)}),
    el("td", {class: "best", text: fmt(info.best) + (info.best_trial >= 0 ? ` (#${info.best_trial})` : "")}),
    el("td", {text: fmt(info.cpu_s, 0)}), el("td", {text: dur(info.elapsed_s)}),
    el("td", {text: info.status === "running" ? dur(info.eta_s) : "—"}), el("td", {}, ...files));
}

function statCell(st, d) {
  if (!st || st.mean === null) return "—";
  return fmt(st.mean, d) + (st.std !== null ? " ± " + fmt(st.std, d) : "");
}

let lastCollections = "";

function drawCollections(cols) {
  const key = JSON.stringify(cols);
  if (key === lastCollections) return; // unchanged: keep the figures as they are
  lastCollections = key;
  const box = document.getElementById("collections");
  box.replaceChildren(...cols.map(c => {
    const lm = c.rows.some(r => r.lm), d = lm ? 2 : 4;
    const kids = [el("h2", {}, `${c.dir} `, statusBadge(c.status))];
    const links = [];
    if (c.report) links.push(el("a", {href: c.report, text: "report.md"}));
    for (const f of c.figures || []) links.push(" ", el("a", {href: f.url, text: f.name}));
    if (links.length) kids.push(el("div", {}, ...links));
    if (c.rows.length) {
      kids.push(el("table", {class: "grid comparison"},
        el("thead", {}, el("tr", {}, ...["label", "n", "seeds", lm ? "validation perplexity" : "validation accuracy",
          lm ? "test perplexity" : "test accuracy", "test min–max", "Δ test", "CPU s (mean)", "wall s (mean)", "regularizer"]
          .map(h => el("th", {text: h})))),
        el("tbody", {}, ...c.rows.map(r => el("tr", {},
          el("td", {text: r.label}), el("td", {text: String(r.n)}), el("td", {text: r.seeds.join(", ")}),
          el("td", {text: statCell(r.val, d)}), el("td", {text: statCell(r.test, d)}),
          el("td", {text: r.test.min === null ? "—" : `${fmt(r.test.min, d)}–${fmt(r.test.max, d)}`}),
          el("td", {text: r.delta === undefined ? "—" : (r.delta >= 0 ? "+" : "") + fmt(r.delta, d)}),
          el("td", {text: fmt(r.cpu_s, 1) + (r.cpu_estimated ? "*" : "")}), el("td", {text: fmt(r.wall_s, 1)}),
          el("td", {class: "text", text: r.regularizers.join("; ")}))))));
      if (c.baseline) {
        const est = c.rows.some(r => r.cpu_estimated) ? "; * CPU estimated as wall × threads (no cpu_s in result.json)" : "";
        kids.push(el("div", {class: "muted", text: `Δ is the difference of the test means from ${c.baseline}${est}.`}));
      }
    } else {
      kids.push(el("div", {class: "muted", text: "no training run (result.json) yet"}));
    }
    for (const b of c.bad || []) kids.push(el("div", {class: "warn", text: b}));
    if (c.figures && c.figures.length) {
      kids.push(el("div", {class: "figures"}, ...c.figures.map(f => el("img", {src: f.url, alt: f.name, loading: "lazy"}))));
    }
    return el("section", {class: "group collection", "data-collection": c.id}, ...kids);
  }));
}

async function tick() {
  const start = performance.now();
  try {
    const r = await fetch("/api/runs");
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    const runs = await r.json();
    document.getElementById("roots").replaceChildren(...runs.roots.map(rt =>
      el("div", {class: rt.gone ? "warn" : "", text: rt.dir + (rt.gone ? " — gone (deleted while served)" : "") + (rt.error ? " — " + rt.error : "")})));
    document.querySelector("#runs tbody").replaceChildren(...runs.searches.map(overviewRow));
    document.getElementById("no-runs").hidden = runs.searches.length > 0;
    for (const info of runs.searches) await syncSearch(info);
    // Searches the server no longer has (their folder was replaced): drop them.
    const live = new Set(runs.searches.map(i => i.id));
    for (const [id, s] of searches) {
      if (live.has(id)) continue;
      searches.delete(id);
      if (s.panel) s.panel.remove();
      const g = document.querySelector(`.group[data-group="${CSS.escape(s.info.group)}"]`);
      if (g && !g.querySelector(".panel")) g.remove();
      else if (g) drawCompare(s.info.group);
    }
    drawCollections(runs.collections);
    const u = document.getElementById("updated");
    u.textContent = "updated " + new Date(runs.now).toLocaleTimeString();
    u.className = "muted";
    // How long this update took to fetch and draw: the page's own cost.
    u.dataset.ms = (performance.now() - start).toFixed(1);
    u.title = `last update took ${u.dataset.ms} ms`;
  } catch (e) {
    const u = document.getElementById("updated");
    u.textContent = "cannot reach the dashboard server (" + e.message + "); retrying";
    u.className = "warn";
  }
  setTimeout(tick, POLL_MS);
}

tick();
