window.onerror = function (msg, src, line) { document.body.dataset.status = "error: " + msg + " at line " + line; };
(function () {
  const data = JSON.parse(document.getElementById("data").textContent);
  const root = document.getElementById("root");
  const NS = "http://www.w3.org/2000/svg";
  function el(tag, attrs, parent, text) {
    const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
    for (const k in (attrs || {})) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(x) { return (typeof x === "number") ? x.toPrecision(4) : String(x); }
  function color(v, lo, hi) {   // white -> orange -> red
    const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0.5;
    return "rgb(255," + Math.round(255 - 150 * t) + "," + Math.round(255 - 230 * t) + ")";
  }
  function lineChart(parent, series, opts) {
    const W = 900, H = 260, L = 60, R = 60, T = 20, B = 40;
    const svg = el("svg:svg", { width: W, height: H }, parent);
    const xs = series.flatMap(s => s.points.map(p => p[0]));
    const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1;
    const X = x => L + (W - L - R) * (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5);
    for (const axis of ["left", "right"]) {
      const ss = series.filter(s => (s.axis || "left") === axis);
      if (!ss.length) continue;
      let ys = ss.flatMap(s => s.points.map(p => p[1])).concat((opts.marks || []).filter(m => axis === "left").map(m => m.value));
      let y0 = Math.min(...ys), y1 = Math.max(...ys);
      if (y1 === y0) { y1 += 1; y0 -= 1; }
      const Y = y => T + (H - T - B) * (1 - (y - y0) / (y1 - y0));
      for (const s of ss) {
        el("svg:polyline", { points: s.points.map(p => X(p[0]) + "," + Y(p[1])).join(" "), fill: "none", stroke: s.color,
                             "stroke-width": 2, "stroke-dasharray": s.dash || "" }, svg);
      }
      const ax = axis === "left" ? L : W - R;
      el("svg:line", { x1: ax, y1: T, x2: ax, y2: H - B, stroke: "#999" }, svg);
      const unit = axis === "left" ? opts.ylabel : opts.y2label;
      if (unit) el("svg:text", { x: axis === "left" ? 4 : W - R - 40, y: T - 6 }, svg, unit);
      for (const v of [y0, (y0 + y1) / 2, y1]) el("svg:text", { x: axis === "left" ? 4 : W - R + 4, y: Y(v) + 4 }, svg, fmt(v));
      if (axis === "left") {
        // Reference lines; their labels are spread apart vertically so that close values never overlap.
        const marks = (opts.marks || []).map(m => ({ m: m, y: Y(m.value) - 4 })).sort((a, b) => a.y - b.y);
        if (marks.length) marks[0].y = Math.max(marks[0].y, T + 12);   // below the axis' unit label
        for (let i = 1; i < marks.length; i++) marks[i].y = Math.max(marks[i].y, marks[i - 1].y + 14);
        for (const k of marks) {
          el("svg:line", { x1: L, x2: W - R, y1: Y(k.m.value), y2: Y(k.m.value), stroke: k.m.color, "stroke-dasharray": "6,4" }, svg);
          el("svg:text", { x: L + 6, y: k.y, fill: k.m.color, class: "mark" }, svg, k.m.label + " " + fmt(k.m.value));
        }
      }
    }
    el("svg:line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }, svg);
    el("svg:text", { x: L, y: H - 20 }, svg, String(x0));
    el("svg:text", { x: W - R - 30, y: H - 20 }, svg, String(x1));
    el("svg:text", { x: W / 2 - 20, y: H - 6 }, svg, opts.xlabel || "step");
    const leg = el("div", { class: "legend" }, parent);
    for (const s of series) el("span", { style: "color:" + s.color }, leg, "— " + s.label);
  }
  function colourScale(parent, lo, hi, unit) {
    // The heatmaps' legend: the colour ramp with its ends and what the numbers are.
    const W = 240, svg = el("svg:svg", { width: W + 12 + 8 * unit.length, height: 34, class: "scale" }, parent);
    for (let i = 0; i < 40; i++) el("svg:rect", { x: i * W / 40, y: 0, width: W / 40 + 1, height: 14, fill: color(lo + (hi - lo) * i / 39, lo, hi) }, svg);
    el("svg:text", { x: 0, y: 28 }, svg, fmt(lo));
    el("svg:text", { x: W - 40, y: 28 }, svg, fmt(hi));
    el("svg:text", { x: W + 10, y: 12 }, svg, unit);
  }
  function heatmap(parent, records, k, discrete) {
    // Rows: the tokens that ranked in the top-k lists, most often first. A token tied with the rest of the vocabulary
    // at a record's lowest score (the near-uniform start) did not rank. Columns: recorded steps; cell: its probability.
    const count = {}, best = {};
    for (const r of records) {
      const floor = Math.min(...r.scores), allTied = r.scores.every(v => v === floor);
      r.tokens.forEach((t, i) => {
        if (!allTied && r.scores[i] === floor) return;
        count[t] = (count[t] || 0) + 1; best[t] = Math.max(best[t] || 0, r.scores[i]);
      });
    }
    const rows = Object.keys(count).sort((a, b) => count[b] - count[a] || best[b] - best[a]).slice(0, Math.max(k || 10, 20));
    if (!rows.length) { el("p", { class: "muted" }, parent, "no token ranked above the rest of the vocabulary"); return; }
    const shown = records.length > 400 ? records.filter((r, i) => i % Math.ceil(records.length / 400) === 0) : records;
    const cw = Math.max(2, Math.min(40, 800 / shown.length)), ch = 16, L = 110;
    const svg = el("svg:svg", { width: L + cw * shown.length + 10, height: ch * rows.length + 30, class: "heatmap" }, parent);
    svg.dataset.rows = String(rows.length);
    let hi = 0;
    shown.forEach(r => r.scores.forEach(s => hi = Math.max(hi, s)));
    rows.forEach((tok, i) => {
      el("svg:text", { x: 2, y: 12 + i * ch }, svg, tok);
      shown.forEach((r, j) => {
        const k = r.tokens.indexOf(tok);
        const v = k >= 0 ? r.scores[k] : 0;
        const rect = el("svg:rect", { x: L + j * cw, y: i * ch, width: Math.max(1, cw - 1), height: ch - 1, fill: color(v, 0, hi) }, svg);
        el("svg:title", {}, rect, tok + " @ step " + r.number + ": " + fmt(v));
      });
    });
    el("svg:text", { x: L, y: ch * rows.length + 20 }, svg, "steps " + shown[0].number + " … " + shown[shown.length - 1].number +
       (shown.length < records.length ? " (every " + Math.ceil(records.length / 400) + "th record of " + records.length + ")" : ""));
    colourScale(parent, 0, hi, discrete ? "first-order gain of swapping the token in (gradient; blank: not in that step's top k)"
                                        : "softmax probability of the token at this position (blank: not in that step's top k)");
  }
  function tokens(parent, toks, acts) {
    const div = el("div", {}, parent);
    const lo = acts ? Math.min(...acts) : 0, hi = acts ? Math.max(...acts) : 1;
    toks.forEach((t, i) => {
      const s = el("span", { class: "tok", style: "background:" + (acts ? color(acts[i], lo, hi) : "#eee") }, div, t);
      if (acts) s.title = fmt(acts[i]);
    });
  }
  function grid(parent, pat, toks, target) {
    const n = toks.length, c = Math.min(28, 560 / n), L = 90, T = 90;
    const svg = el("svg:svg", { width: L + n * c + 10, height: T + n * c + 10 }, parent);
    toks.forEach((t, i) => {
      el("svg:text", { x: 2, y: T + i * c + c * 0.7 }, svg, t);
      el("svg:text", { x: L + i * c + c * 0.6, y: T - 4, transform: "rotate(-60 " + (L + i * c + c * 0.6) + " " + (T - 4) + ")" }, svg, t);
      for (let j = 0; j < n; j++) {
        const r = el("svg:rect", { x: L + j * c, y: T + i * c, width: c - 1, height: c - 1, fill: color(pat[i][j], 0, 1) }, svg);
        el("svg:title", {}, r, t + " → " + toks[j] + ": " + fmt(pat[i][j]));
      }
    });
    if (target) el("svg:rect", { x: L + target[1] * c - 1, y: T + target[0] * c - 1, width: c + 1, height: c + 1, fill: "none",
                                 stroke: "#06c", "stroke-width": 3, class: "target" }, svg);
    colourScale(parent, 0, 1, "attention probability (rows: query, columns: key" + (target ? "; blue box: the objective's cell" : "") + ")");
  }
  function scatter(parent, points, frontier) {
    // x: pseudo-log-likelihood (nats per dreamed token), y: activation; the frontier joined and labelled with λ.
    const W = 900, H = 340, L = 70, R = 60, T = 26, B = 46;
    const svg = el("svg:svg", { width: W, height: H }, parent);
    const xs = points.map(p => p.pll), ys = points.map(p => p.activation);
    let x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    if (x1 === x0) { x0 -= 1; x1 += 1; } if (y1 === y0) { y0 -= 1; y1 += 1; }
    const X = x => L + (W - L - R) * (x - x0) / (x1 - x0), Y = y => T + (H - T - B) * (1 - (y - y0) / (y1 - y0));
    const lams = [...new Set(points.map(p => p.lambda))].sort((a, b) => a - b);
    const hue = l => "hsl(" + Math.round(260 * lams.indexOf(l) / Math.max(1, lams.length - 1)) + ",70%,45%)";
    el("svg:line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999" }, svg);
    el("svg:line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#999" }, svg);
    for (const v of [x0, (x0 + x1) / 2, x1]) el("svg:text", { x: X(v) - 14, y: H - B + 16 }, svg, fmt(v));
    for (const v of [y0, (y0 + y1) / 2, y1]) el("svg:text", { x: 4, y: Y(v) + 4 }, svg, fmt(v));
    el("svg:text", { x: W / 2 - 120, y: H - 6 }, svg, "pseudo-log-likelihood (nats per dreamed token) →");
    el("svg:text", { x: L + 4, y: T - 8 }, svg, "activation ↑");
    el("svg:polyline", { points: frontier.map(p => X(p.pll) + "," + Y(p.activation)).join(" "), fill: "none", stroke: "#c2a", "stroke-width": 2 }, svg);
    for (const p of points) {
      const c = el("svg:circle", { cx: X(p.pll), cy: Y(p.activation), r: 5, fill: hue(p.lambda), "fill-opacity": 0.8 }, svg);
      el("svg:title", {}, c, "λ=" + p.lambda + ": " + p.text + " (activation " + fmt(p.activation) + ", PLL " + fmt(p.pll) + ")");
    }
    for (const p of frontier) el("svg:text", { x: X(p.pll) + 7, y: Y(p.activation) - 6, fill: "#c2a" }, svg, "λ=" + p.lambda);
    const leg = el("div", { class: "legend" }, parent);
    for (const l of lams) el("span", { style: "color:" + hue(l) }, leg, "● λ=" + l);
    el("span", { style: "color:#c2a" }, leg, "— Pareto frontier");
  }
  if (data.title) document.getElementById("title").textContent = data.title;
  (data.dreams || []).forEach((d, n) => {
    // The dream is marked against token-search and corpus maxima of the same objective.
    const maxima = [];
    for (const s of data.searches || []) if (s.tops.length && s.objective === d.objective) maxima.push({ label: "token-search max", value: s.tops[0].activation, color: "#7a3" });
    for (const c of data.corpora || []) if (c.tops.length && c.objective === d.objective) maxima.push({ label: "corpus max", value: c.tops[0].activation, color: "#37a" });
    el("h2", {}, root, "Dream " + (n + 1) + ": " + d.objective);
    el("p", { class: "muted" }, root, d.summary || "");
    const it = (d.curve && d.curve.length) ? d.curve.map(c => ({ number: c.step, activation: c.activation, ids_activation: c.ids_activation,
                                                                    temperature: c.temperature })) : (d.iterations || []);
    if (d.convergence) el("p", { class: "warn" }, root, d.convergence);
    if (it.length) {
      el("h3", {}, root, d.discrete ? "Exact activation over steps" : "Activation over steps (soft and discrete), temperature on the right axis");
      const series = [
        { label: "soft activation", color: "#d62", points: d.discrete ? [] : it.filter(r => r.activation !== undefined).map(r => [r.number, r.activation]) },
        { label: d.discrete ? "activation of the population's first input (exact)" : "ids_activation (argmax input)", color: "#27c", points: it.filter(r => r.ids_activation !== undefined).map(r => [r.number, r.ids_activation]) },
        { label: "temperature", color: "#999", dash: "4,3", axis: "right", points: d.discrete ? [] : it.map(r => [r.number, r.temperature]) },
      ].filter(s => s.points.length);
      const marks = maxima.slice();
      if (d.best) marks.push({ label: "dream best", value: d.best.activation, color: "#c2a" });
      lineChart(root, series, { marks: marks, ylabel: "objective value", y2label: "temperature" });
      const p = el("p", {}, root);
      p.textContent = "Dream best " + (d.best ? fmt(d.best.activation) : "n/a") + maxima.map(m => " · " + m.label + " " + fmt(m.value)).join("") +
        (maxima.length ? "" : " (no token search or corpus pass with this objective in the report)");
    }
    for (const pos in (d.topk || {})) {
      el("h3", {}, root, "Top-k tokens at position " + pos + " over steps");
      heatmap(root, d.topk[pos], d.k, d.discrete);
    }
    if (d.final_tokens) { el("h3", {}, root, "Final input" + (d.final_activations ? ", coloured by the unit's activation" : "")); tokens(root, d.final_tokens, d.final_activations); }
    if (d.best && d.best.tokens) { el("h3", {}, root, "Best discrete input (" + fmt(d.best.activation) + ")"); tokens(root, d.best.tokens, d.best_activations); }
    if (d.attention) { el("h3", {}, root, "Attention pattern, layer " + d.attention.layer + " head " + d.attention.head + " (best input)"); grid(root, d.attention.pattern, d.attention.tokens, d.attention.target); }
  });
  (data.frontiers || []).forEach(f => {
    el("h2", {}, root, "Fluency frontier: " + f.objective);
    el("p", { class: "muted" }, root, (f.method || "") + " dreams, PLL under " + (f.fluency_model || "?") + ", λ in {" + (f.lambdas || []).join(", ") + "}" +
       (f.interrupted ? ", interrupted" : "") + ": " + f.points.length + " inputs, " + f.frontier.length + " on the frontier");
    if (f.points.length) scatter(root, f.points, f.frontier);
    const t = el("table", {}, root);
    const hr = el("tr", {}, t); for (const h of ["λ", "activation", "PLL", "input"]) el("th", {}, hr, h);
    f.frontier.slice().reverse().forEach(p => { const r = el("tr", {}, t); el("td", {}, r, String(p.lambda)); el("td", {}, r, fmt(p.activation));
      el("td", {}, r, fmt(p.pll)); el("td", {}, r, p.text + (p.honest === false ? " (does not survive re-encoding)" : "")); });
  });
  (data.searches || []).forEach(s => {
    el("h2", {}, root, "Token search: " + s.objective + " at position " + s.position);
    const t = el("table", {}, root);
    const hr = el("tr", {}, t); el("th", {}, hr, "#"); el("th", {}, hr, "token"); el("th", {}, hr, "activation");
    s.tops.forEach((h, i) => { const r = el("tr", {}, t); el("td", {}, r, String(i + 1)); el("td", {}, r, h.token); el("td", {}, r, fmt(h.activation)); });
  });
  (data.corpora || []).forEach(c => {
    el("h2", {}, root, "Top corpus examples: " + (c.objective || ""));
    const per = c.tops.flatMap(h => h.activations || []);
    el("p", { class: "muted" }, root, per.length ? "Each token is coloured by the unit's activation on a scale of this passage's own minimum to maximum; the number is the passage's maximum (objective units)."
                                                 : "The number is the objective's value on the passage (objective units).");
    c.tops.forEach(h => { el("p", { class: "muted" }, root, fmt(h.activation)); tokens(root, h.tokens, h.activations && h.activations.length ? h.activations : null); });
  });
  (data.sweeps || []).forEach(sw => {
    // One row per unit: sortable by clicking a header, filtered by the box (unit, objective or any token).
    el("h2", {}, root, "Sweep: " + sw.title);
    const rows = sw.records;
    const acts = rows.map(r => r.best ? r.best.activation : r.final_ids_activation).filter(v => typeof v === "number");
    const lo = Math.min(...acts), hi = Math.max(...acts);
    el("p", { class: "muted" }, root, rows.length + " units; " + (rows[0] ? rows[0].method + " dreams of " + rows[0].steps + " steps on \"" + rows[0].sentence + "\"" : "") +
       "; activation is the best discrete input's, exactly scored; the dreamed span is coloured by it (scale " + fmt(lo) + " to " + fmt(hi) + ").");
    const filter = el("input", { type: "search", placeholder: "filter: unit, objective or token", id: "sweep-filter-" + sw.index, size: 40 }, root);
    const t = el("table", { class: "sweep", id: "sweep-" + sw.index }, root);
    const cols = [["unit", r => r.unit], ["activation", r => r.best ? r.best.activation : r.final_ids_activation],
                  ["best input", r => r.best ? r.best.text : r.final_tokens.join(" ")], ["top tokens", r => (r.top_tokens || []).map(p => p.slice(0, 5).join(" ")).join(" | ")]];
    const head = el("tr", {}, el("thead", {}, t));
    const body = el("tbody", {}, t);
    let order = { col: 1, dir: -1 };
    function draw() {
      body.textContent = "";
      const q = filter.value.trim().toLowerCase();
      const shown = rows.filter(r => !q || String(r.unit) === q || r.objective.toLowerCase().includes(q) ||
                                     (r.best ? r.best.tokens : r.final_tokens).some(k => k.toLowerCase().includes(q)) ||
                                     (r.top_tokens || []).some(p => p.some(k => k.toLowerCase().includes(q))));
      shown.sort((a, b) => { const x = cols[order.col][1](a), y = cols[order.col][1](b); return (x < y ? -1 : x > y ? 1 : 0) * order.dir; });
      for (const r of shown) {
        const tr = el("tr", {}, body);
        el("td", {}, tr, String(r.unit));
        el("td", {}, tr, fmt(cols[1][1](r)));
        const cell = el("td", {}, tr);
        const toks = r.best ? r.best.tokens : [];
        toks.forEach((k, i) => el("span", { class: "tok", style: "background:" + (i >= r.first && i <= r.last ? color(cols[1][1](r), lo, hi) : "#eee") }, cell, k));
        el("td", { class: "muted" }, tr, cols[3][1](r));
      }
      t.dataset.rows = String(shown.length);
    }
    cols.forEach(([name], i) => {
      const th = el("th", { style: "cursor:pointer" }, head, name);
      th.onclick = () => { order = { col: i, dir: order.col === i ? -order.dir : (i === 1 ? -1 : 1) }; draw(); };
    });
    filter.oninput = draw;
    draw();
  });
  document.body.dataset.status = "rendered";
})();
