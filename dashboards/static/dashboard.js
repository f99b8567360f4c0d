"use strict";
// Draws the comparison site from the JSON data block. Every string that came from a result
// file goes into the DOM as text (textContent, never innerHTML) and into plotly escaped, so a
// label such as "<img onerror=...>" is shown as typed and never becomes markup.
(function () {
  var DATA = JSON.parse(document.getElementById("rs-data").textContent);
  if (DATA.version !== 2) {        // dashboards/page_data.py's VERSION: the keys this script reads
    var stop = document.createElement("p");
    stop.className = "warnings";
    stop.id = "data-version";
    stop.textContent = "This page's data is version " + DATA.version + " and this script reads version 2: " +
                       "build the page again with bench dashboard.";
    document.body.insertBefore(stop, document.body.firstChild);
    document.body.dataset.ready = "1";          // nothing more will be drawn
    return;
  }
  var ROWS = DATA.rows;            // one per group: its median run, for the charts and cost details
  DATA.groups.forEach(function (g, i) { g.index = i; });
  var RUNS = DATA.groups.reduce(function (n, g) { return n + g.n; }, 0);
  var FILTERS = [["machine", "f-machine"], ["model", "f-model"], ["quant", "f-quant"], ["backend", "f-backend"]];
  var PALETTE = ["#1864ab", "#c2255c", "#2b8a3e", "#e67700", "#5f3dc4", "#0b7285", "#862e9c", "#5c940d",
                 "#364fc7", "#a61e4d"];
  var CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"]};

  // plotly renders a small HTML subset in its text; entities keep data strings literal.
  function plain(s) {
    return String(s == null ? "" : s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function fixed(v, d) {
    return v.toLocaleString("en-US", {minimumFractionDigits: d, maximumFractionDigits: d});
  }

  // Three significant figures without exponents: $0.00333, $1.54, $2,040.
  function sig(v) {
    var a = Math.abs(v);
    if (a === 0) return "0";
    return fixed(v, a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : Math.min(8, 2 - Math.floor(Math.log10(a))));
  }

  function money(v) { return "$" + sig(v); }
  function pct(v) { return fixed(v * 100, 0) + " %"; }
  function gib(v) { return fixed(v / 1073741824, 2) + " GiB"; }

  function tokens(v) {
    var units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "k"]];
    for (var i = 0; i < units.length; i++) if (v >= units[i][0]) return sig(v / units[i][0]) + units[i][1];
    return sig(v);
  }

  // A table cell: the formatted value, or "n/a" with the reason underneath (never a 0).
  function cell(value, format, why) {
    var td = el("td", "num");
    if (value == null) {
      td.className = "na";
      td.appendChild(el("span", null, "n/a"));
      if (why) td.appendChild(el("span", "why", why));
    } else {
      td.textContent = format(value);
    }
    return td;
  }

  function textCell(text, sub) {
    var td = el("td", null, text);
    if (sub) td.appendChild(el("span", "why", sub));
    return td;
  }

  // ---- filters ---------------------------------------------------------------------------
  function setupFilters() {
    FILTERS.forEach(function (f) {
      var select = document.getElementById(f[1]);
      var values = Array.from(new Set(ROWS.map(function (r) { return r[f[0]]; }))).sort();
      values.forEach(function (v) { select.appendChild(new Option(v, v)); });
      select.addEventListener("change", function () { render(true); });
    });
    document.getElementById("f-reset").addEventListener("click", function () {
      FILTERS.forEach(function (f) { document.getElementById(f[1]).value = ""; });
      render(true);
    });
  }

  function visibleRows() {
    return ROWS.filter(function (r) {
      return FILTERS.every(function (f) {
        var v = document.getElementById(f[1]).value;
        return v === "" || r[f[0]] === v;
      });
    });
  }

  function visibleGroups() {
    return DATA.groups.filter(function (r) {
      return FILTERS.every(function (f) {
        var v = document.getElementById(f[1]).value;
        return v === "" || r[f[0]] === v;
      });
    });
  }

  // ---- overview table: one row per group of repeated runs ------------------------------------
  // Explanations shared by many cells are numbered once in a notes list under the table; a cell
  // carries the number only ("n/a¹"), so a thousand rows do not repeat the same sentence.
  function Notes() {
    var index = {}, list = [];
    return {
      mark: function (text) {
        if (!(text in index)) { list.push(text); index[text] = list.length; }
        return index[text];
      },
      render: function () {
        var box = document.getElementById("overview-notes");
        box.textContent = "";
        list.forEach(function (text, i) {
          var li = el("li", null, text);
          li.id = "note-" + (i + 1);
          box.appendChild(li);
        });
      }
    };
  }

  function marker(notes, text) {
    return el("sup", "note", String(notes.mark(text)));
  }

  // A group's figure: the median, its min-max spread when n > 1, or n/a with a note number.
  function figureCell(g, key, format, notes, suffix) {
    var f = g.figures[key], td = el("td", "num");
    if (!f) {
      td.className = "na";
      td.appendChild(document.createTextNode("n/a"));
      td.appendChild(marker(notes, g.why[key] || "not measured"));
      return td;
    }
    td.textContent = format(f.median) + (suffix || "");
    if (f.n > 1 && f.min !== f.max) td.appendChild(el("span", "spread", " " + format(f.min) + "–" + format(f.max)));
    return td;
  }

  function labelCell(text, sub, notes, note) {
    var td = el("td", null, text);
    if (sub) td.appendChild(el("span", "sub", " " + sub));
    if (note) td.appendChild(marker(notes, note));
    return td;
  }

  // The scenario a figure came from, named on hover: the row stays one line.
  function scenario(td, name) {
    if (name) td.title = "from " + name;
    return td;
  }

  function estimated(g, td, notes, key) {
    if (g.figures[key] && g.energy_method === "estimated") td.appendChild(marker(notes, "estimated energy (TDP × CPU utilisation), not measured"));
    return td;
  }

  function countCell(g) {
    var td = el("td", "num count");
    if (g.n === 1) { td.textContent = "1"; return td; }
    var b = el("button", "runs-toggle", g.n + (g.n_invalid ? " (" + g.n_invalid + " INVALID)" : "") + " ▸");
    b.type = "button";
    b.setAttribute("aria-expanded", "false");
    td.appendChild(b);
    return td;
  }

  function validityText(g) {
    if (g.n_invalid === 0) return "VALID";
    if (g.n_invalid === g.n) return "INVALID";
    return g.n_invalid + " of " + g.n + " INVALID";
  }

  var SPREAD = " Median of the row's VALID runs (of its INVALID runs when it has no VALID one); the small figures are their min–max spread.";
  var text = function (v) { return v == null ? null : String(v).toLowerCase(); };
  var median = function (key) { return function (g) { return g.figures[key] ? g.figures[key].median : null; }; };
  // [header, header tooltip, sort key (number, text or null: n/a, sorted last both ways), cell]
  var COLUMNS = [
    ["Machine", "The run's label and hardware.", function (g) { return text(g.machine); },
     function (g, notes) { return labelCell(g.label, g.hardware, notes); }],
    ["Model", "Model and quantization.", function (g) { return text(g.model + " " + g.quant); },
     function (g, notes) { return labelCell(g.model + " " + g.quant, null, notes, g.model_source === "synthetic" ? "synthetic weights" : null); }],
    ["Backend", "Backend, device, and any workaround the run applied.", function (g) { return text(g.backend); }, function (g) {
      var td = labelCell(g.backend, g.device ? "on " + g.device : null);
      if (g.workarounds.length) td.appendChild(el("span", "why", g.workarounds.map(function (w) { return "workaround: " + w; }).join("; ")));
      return td;
    }],
    ["n", "Runs in the row; INVALID ones are counted, not in the median. Click to list the raw runs.",
     function (g) { return g.n; }, countCell],
    ["Decode tok/s", "tg<N> microbenchmark mean." + SPREAD, median("decode_tps"),
     function (g, notes) { return scenario(figureCell(g, "decode_tps", sig, notes), g.scenarios.decode); }],
    ["Output tok/s", "Aggregate output tokens/s of the run's best valid request scenario." + SPREAD, median("output_tps"),
     function (g, notes) { return scenario(figureCell(g, "output_tps", sig, notes), g.scenarios.throughput); }],
    ["TPOT p50", "Median time per output token of that scenario, in ms." + SPREAD, median("tpot_p50_ms"),
     function (g, notes) { return figureCell(g, "tpot_p50_ms", sig, notes, " ms"); }],
    ["J / output token", "Energy per output token (estimated energy is marked)." + SPREAD, median("j_per_token"),
     function (g, notes) { return estimated(g, figureCell(g, "j_per_token", sig, notes), notes, "j_per_token"); }],
    ["Peak RSS", "Peak resident memory of the process tree." + SPREAD, median("peak_rss_bytes"),
     function (g, notes) { return figureCell(g, "peak_rss_bytes", gib, notes); }],
    ["BW efficiency", "Decode tok/s over the roofline ceiling at the measured bandwidth." + SPREAD, median("bw_eff_measured"),
     function (g, notes) { return figureCell(g, "bw_eff_measured", pct, notes); }],
    ["$ / 1M output", "Self-hosted cost per 1M output tokens." + SPREAD, median("usd_per_m_output"), function (g, notes) {
      var td = figureCell(g, "usd_per_m_output", money, notes);
      if (g.figures.usd_per_m_output && !g.cost_valid) td.appendChild(marker(notes, "priced from an INVALID run's throughput: measure again before relying on it"));
      return td;
    }],
    ["$ / 1M input", "At 1/r of the output price." + SPREAD, median("usd_per_m_input"),
     function (g, notes) { return figureCell(g, "usd_per_m_input", money, notes); }],
    ["$ / 1M blended 3:1", "(3 x input + output) / 4." + SPREAD, median("usd_per_m_blended"),
     function (g, notes) { return figureCell(g, "usd_per_m_blended", money, notes); }],
    ["Electricity $ / 1M output", "Electricity alone; estimated energy and assumed tariffs are named in the cost details." + SPREAD,
     median("electricity_usd_per_m"), function (g, notes) {
      var td = estimated(g, figureCell(g, "electricity_usd_per_m", money, notes), notes, "electricity_usd_per_m");
      if (g.figures.electricity_usd_per_m && g.tariff_assumed) td.appendChild(marker(notes, "at an assumed $" + g.tariff_assumed + "/kWh"));
      return td;
    }],
    ["$ / 1k tasks", "1,000 requests of the cost scenario's shape." + SPREAD, median("usd_per_1k_tasks"),
     function (g, notes) { return figureCell(g, "usd_per_1k_tasks", money, notes); }],
    ["Cost basis", "The machine-hour's price (the whole basis is listed under the table).", median("usd_per_hour"), function (g, notes) {
      // the hour's price here; the whole basis is listed under the table
      if (!g.basis) return figureCell(g, "usd_per_hour", money, notes);
      var td = labelCell(money(g.basis.usd_per_hour) + "/h, " + g.basis.basis.replace("_", "-"));
      td.title = g.basis.title;
      return td;
    }],
    ["Validity", "The runs' verdicts; the reasons are numbered in the notes.", function (g) { return g.n_invalid / g.n; }, function (g, notes) {
      var td = el("td", null, validityText(g));
      g.reasons.forEach(function (r) { td.appendChild(marker(notes, r)); });
      return td;
    }]
  ];
  var RAW = ["Started", "Run", "File", "Verdict", "Decode tok/s", "Output tok/s", "TPOT p50", "$ / 1M blended"];

  var SORT = {column: null, dir: 1}, TABLE_NOTES = null;

  // Numbers numerically, text alphabetically, n/a (null) last whichever the direction.
  function sorted(groups) {
    if (SORT.column === null) return groups;
    var key = COLUMNS[SORT.column][2];
    var keyed = groups.map(function (g, i) { return [key(g), i, g]; });
    keyed.sort(function (a, b) {
      if (a[0] === null || b[0] === null) return (a[0] === null) - (b[0] === null) || a[1] - b[1];
      var c = a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
      return SORT.dir * c || a[1] - b[1];
    });
    return keyed.map(function (k) { return k[2]; });
  }

  function rawRuns(g, notes) {
    var t = el("table", "runs"), head = el("tr");
    RAW.forEach(function (h) { head.appendChild(el("th", null, h)); });
    t.appendChild(el("thead")).appendChild(head);
    var body = t.appendChild(el("tbody"));
    g.runs.forEach(function (run) {
      var tr = el("tr", run.verdict === "VALID" ? null : "invalid"), v = run.values;
      tr.dataset.run = run.run_id;
      tr.appendChild(el("td", null, run.started_at || "n/a"));
      tr.appendChild(el("td", null, run.run_id));
      var file = tr.appendChild(el("td"));
      if (run.report) {                    // the run's own HTML report, written beside its result
        var a = file.appendChild(el("a", null, run.file));
        a.href = run.report;
        file.appendChild(el("span", "sub", " (report)"));
      } else {
        file.textContent = run.file || "n/a";
      }
      var verdict = el("td", null, run.verdict || run.status);
      run.reasons.forEach(function (r) { verdict.appendChild(marker(notes, r)); });
      tr.appendChild(verdict);
      [["decode_tps", sig], ["output_tps", sig], ["tpot_p50_ms", function (x) { return sig(x) + " ms"; }], ["usd_per_m_blended", money]].forEach(function (c) {
        var td = el("td", v[c[0]] == null ? "na" : "num", v[c[0]] == null ? "n/a" : c[1](v[c[0]]));
        if (v[c[0]] == null) td.appendChild(marker(notes, g.why[c[0]] || "not measured in this run"));
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    return t;
  }

  function renderTable(groups) {
    var table = document.getElementById("overview"), notes = Notes();
    table.textContent = "";
    var head = el("tr");
    COLUMNS.forEach(function (c, i) {
      var th = el("th", "sortable", c[0] + (SORT.column === i ? (SORT.dir > 0 ? " ▲" : " ▼") : ""));
      th.title = c[1];
      th.dataset.column = i;
      th.setAttribute("aria-sort", SORT.column === i ? (SORT.dir > 0 ? "ascending" : "descending") : "none");
      head.appendChild(th);
    });
    table.appendChild(el("thead")).appendChild(head);
    var body = table.appendChild(el("tbody"));
    sorted(groups).forEach(function (g) {
      var tr = el("tr", g.median_of === "VALID" ? null : "invalid");
      tr.dataset.group = g.index;
      COLUMNS.forEach(function (c) { tr.appendChild(c[3](g, notes)); });
      body.appendChild(tr);
    });
    notes.render();
    TABLE_NOTES = notes;
  }

  // Header clicks sort; the n button opens the group's raw runs in a row beneath it.
  function setupTable() {
    var table = document.getElementById("overview");
    table.addEventListener("click", function (e) {
      var th = e.target.closest("th.sortable"), toggle = e.target.closest("button.runs-toggle");
      if (th) {
        var i = Number(th.dataset.column);
        SORT.dir = SORT.column === i ? -SORT.dir : 1;
        SORT.column = i;
        renderTable(visibleGroups());
      } else if (toggle) {
        var tr = toggle.closest("tr"), next = tr.nextElementSibling;
        if (next && next.classList.contains("raw")) {
          next.remove();
          toggle.setAttribute("aria-expanded", "false");
          toggle.textContent = toggle.textContent.replace("▾", "▸");
          return;
        }
        var g = DATA.groups[Number(tr.dataset.group)], raw = el("tr", "raw"), td = el("td");
        td.colSpan = COLUMNS.length;
        td.appendChild(rawRuns(g, TABLE_NOTES));
        raw.appendChild(td);
        tr.after(raw);
        TABLE_NOTES.render();
        toggle.setAttribute("aria-expanded", "true");
        toggle.textContent = toggle.textContent.replace("▸", "▾");
      }
    });
  }

  // One entry per machine and basis: what an hour costs there, how it was chosen, its source.
  function renderBases(rows) {
    var box = document.getElementById("bases"), seen = {};
    box.textContent = "";
    rows.forEach(function (r) {
      var text = r.cost
        ? r.cost.basis_text + ". " + r.cost.profile_title + ": " + r.cost.profile_how + ". Source: " + r.cost.profile_source +
          " (observed " + (r.cost.profile_observed || "undated") + ")."
        : "cost n/a: " + r.cost_na;
      if (seen[r.machine + text]) return;
      seen[r.machine + text] = true;
      var li = el("li");
      li.appendChild(el("b", null, r.machine + ": "));
      li.appendChild(document.createTextNode(text));
      box.appendChild(li);
    });
  }

  // ---- charts -----------------------------------------------------------------------------
  function layout(extra) {
    return Object.assign({
      margin: {l: 70, r: 20, t: 10, b: 50}, font: {family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12},
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff", legend: {orientation: "h", y: -0.25},
      hoverlabel: {align: "left"}
    }, extra);
  }

  function draw(id, traces, lay, emptyText) {
    var box = document.getElementById(id);
    var msg = document.getElementById(id + "-empty");
    var points = traces.reduce(function (n, t) { return n + t.x.length; }, 0);
    if (!points) {
      window.Plotly.purge(box);
      box.hidden = true;
      msg.hidden = false;
      msg.textContent = emptyText;
      return;
    }
    box.hidden = false;
    msg.hidden = true;
    window.Plotly.react(box, traces, layout(lay), CONFIG);
  }

  // A log axis when the values span more than 50x (an 8B and a tiny model on one chart).
  function valueAxis(traces, title) {
    var v = [].concat.apply([], traces.map(function (t) { return t.y; })).filter(function (y) { return y > 0; });
    var log = v.length > 1 && Math.max.apply(null, v) / Math.min.apply(null, v) > 50;
    return {type: log ? "log" : "linear", title: {text: title + (log ? " (log scale)" : "")}};
  }

  function trace(name, extra) {
    return Object.assign({name: plain(name), x: [], y: [], hovertext: [], hoverinfo: "text"}, extra);
  }

  function costChart(rows) {
    var models = new Set(rows.map(function (r) { return r.model; }));
    var api = trace("API list price", {type: "bar", orientation: "h", marker: {color: "#adb5bd"}});
    var same = trace("API serving the same model", {type: "bar", orientation: "h", marker: {color: "#e8590c"}});
    var self = trace("self-hosted (measured here)", {type: "bar", orientation: "h", marker: {color: "#1864ab"}});
    var shaky = trace("self-hosted, from an INVALID measurement", {type: "bar", orientation: "h",
      marker: {color: "#a5d8ff", line: {color: "#1864ab", width: 1}}});
    DATA.apis.forEach(function (p) {
      var t = p.serves.some(function (m) { return models.has(m); }) ? same : api;
      t.x.push(p.blended);
      t.y.push(plain(p.provider + " · " + p.model));
      t.hovertext.push(plain(p.provider + " " + p.model) + "<br>blended " + money(p.blended) + " = (3 × " +
                       money(p.input) + " + " + money(p.output) + ") / 4<br>observed " + plain(p.observed || "undated"));
    });
    rows.forEach(function (r) {
      if (!r.cost) return;
      var c = r.cost, t = c.throughput.valid ? self : shaky;
      t.x.push(c.usd_per_m_blended);
      t.y.push(plain(r.name + " (self-hosted)"));
      t.hovertext.push(plain(r.name) + "<br>blended " + money(c.usd_per_m_blended) + "; output " + money(c.usd_per_m_output) +
                       ", input " + money(c.usd_per_m_input) + "<br>" + plain(c.basis_text) + "<br>" + plain(c.profile_title) +
                       "<br>throughput " + sig(c.throughput.output_tps) + " output tok/s from " + plain(c.throughput.scenario) +
                       (c.throughput.valid ? "" : " (INVALID: " + plain(c.throughput.invalid_reasons.join("; ")) + ")"));
    });
    var n = api.x.length + same.x.length + self.x.length + shaky.x.length;
    draw("chart-cost", [api, same, self, shaky], {
      barmode: "overlay", height: Math.max(320, 90 + 19 * n), margin: {l: 20, r: 20, t: 10, b: 50},
      xaxis: {type: "log", title: {text: "$ per 1M tokens, blended 3 input : 1 output (log scale)"}},
      yaxis: {automargin: true, categoryorder: "total ascending", tickfont: {size: 11}},
      legend: {orientation: "h", y: 1.02, yanchor: "bottom"}
    }, "No prices to show.");
  }

  function paretoChart(rows) {
    var series = {}, byModel = {};
    rows.forEach(function (r) {
      r.latency_points.forEach(function (p) {
        if (p.tpot_p50_ms == null) return;
        var key = r.machine + " · " + r.quant;
        var t = series[key] = series[key] || trace(key, {type: "scatter", mode: "markers", marker: {size: 11, symbol: []}});
        var text = plain(r.name) + "<br>" + plain(p.scenario) + (p.valid ? "" : " (INVALID: not on the front)") + "<br>" +
                   sig(p.output_tps) + " output tok/s, TPOT p50 " + sig(p.tpot_p50_ms) + " ms";
        t.x.push(p.tpot_p50_ms);
        t.y.push(p.output_tps);
        t.hovertext.push(text);
        t.marker.symbol.push(p.valid ? "circle" : "x");
        if (p.valid) (byModel[r.model] = byModel[r.model] || []).push({x: p.tpot_p50_ms, y: p.output_tps, text: text});
      });
    });
    var traces = Object.keys(series).sort().map(function (k, i) {
      series[k].marker.color = PALETTE[i % PALETTE.length];
      return series[k];
    });
    // One front per model (throughputs of different models do not compete): sorted by latency,
    // a point joins when it beats the throughput of every quicker one.
    Object.keys(byModel).sort().forEach(function (model) {
      var pts = byModel[model].sort(function (a, b) { return a.x - b.x || b.y - a.y; });
      var front = trace("Pareto front · " + model, {type: "scatter", mode: "lines+markers",
                                                   line: {color: "#212529", dash: "dot", width: 1.5},
                                                   marker: {symbol: "circle-open", size: 18, color: "#212529"}});
      var best = -Infinity;
      pts.forEach(function (p) {
        if (p.y > best) { front.x.push(p.x); front.y.push(p.y); front.hovertext.push("on the Pareto front<br>" + p.text); best = p.y; }
      });
      traces.push(front);
    });
    draw("chart-pareto", traces, {
      height: 420,
      xaxis: {type: "log", title: {text: "median time per output token, TPOT (ms, log scale) — lower is better"}},
      yaxis: {type: "log", title: {text: "aggregate output tokens/s (log scale)"}}
    }, "No request scenario (single-stream, concurrency) in the selected results.");
  }

  // The axes of the published per-accelerator curves: aggregate output tokens/s per accelerator
  // (per box for CPUs and Macs) against tokens/s each user sees (1000 / median TPOT in ms), one
  // line per machine, model, quant and workload, its points the load levels in concurrency order.
  function interactivityChart(rows) {
    var lines = {};
    rows.forEach(function (r) {
      var per = Math.max((r.machine_for_cost || {}).gpu_count || 0, 1);
      var unit = (r.machine_for_cost || {}).gpu_count ? " GPU" : " box";
      r.latency_points.forEach(function (p) {
        if (p.tpot_p50_ms == null || p.output_tps == null || !p.valid) return;
        var workload = String(p.scenario).split("@")[0];
        var key = r.machine + " · " + r.model + " " + r.quant + " · " + workload;
        var t = lines[key] = lines[key] || trace(key, {type: "scatter", mode: "lines+markers", marker: {size: 8}});
        t.x.push(1000 / p.tpot_p50_ms);
        t.y.push(p.output_tps / per);
        t.hovertext.push(plain(r.name) + "<br>" + plain(p.scenario) + "<br>" + sig(1000 / p.tpot_p50_ms) +
                         " tok/s per user, " + sig(p.output_tps / per) + " tok/s per" + unit);
      });
    });
    var traces = Object.keys(lines).sort().map(function (k, i) {
      lines[k].marker = {size: 8, color: PALETTE[i % PALETTE.length]};
      lines[k].line = {color: PALETTE[i % PALETTE.length]};
      return lines[k];
    });
    draw("chart-interactivity", traces, {
      height: 420,
      xaxis: {type: "log", title: {text: "output tokens/s per user (1000 / median TPOT in ms, log scale)"}},
      yaxis: {type: "log", title: {text: "aggregate output tokens/s per accelerator (or per box; log scale)"}}
    }, "No valid request scenario (single-stream, concurrency) in the selected results.");
  }

  function byQuantChart(rows) {
    var quants = {};
    rows.forEach(function (r) {
      if (r.decode_tps == null) return;
      var t = quants[r.quant] = quants[r.quant] || trace(r.quant, {type: "bar"});
      t.x.push(plain(r.machine + " · " + r.model));
      t.y.push(r.decode_tps);
      t.hovertext.push(plain(r.name) + "<br>" + sig(r.decode_tps) + " tok/s (" + plain(r.decode_scenario) + ")");
    });
    var traces = Object.keys(quants).sort().map(function (k, i) {
      quants[k].marker = {color: PALETTE[i % PALETTE.length]};
      return quants[k];
    });
    draw("chart-quant", traces, {
      barmode: "group", height: 380, xaxis: {automargin: true}, yaxis: valueAxis(traces, "decode tokens/s")
    }, "No valid tg scenario in the selected results.");
  }

  function energyChart(rows) {
    var methods = {};
    rows.forEach(function (r) {
      if (r.j_per_token == null) return;
      var m = r.energy_method;
      var t = methods[m] = methods[m] || trace(m === "estimated" ? "estimated (TDP × utilisation, not measured)" : m + " (measured)", {
        type: "bar", marker: m === "estimated"
          ? {color: "#ffd8a8", line: {color: "#d9480f", width: 1},
             pattern: {shape: "/", fillmode: "replace", bgcolor: "#ffd8a8", fgcolor: "#d9480f", solidity: 0.25}}
          : {color: "#2b8a3e"}
      });
      t.x.push(plain(r.name));
      t.y.push(r.j_per_token);
      t.hovertext.push(plain(r.name) + "<br>" + sig(r.j_per_token) + " J per output token, " + plain(m) + "<br>over " +
                       plain(r.energy_scenario) + ", covers " + plain(r.energy_covers.join(", ")) + ", " + sig(r.average_watts) + " W average");
    });
    var traces = Object.keys(methods).sort().map(function (k) { return methods[k]; });
    draw("chart-energy", traces, {
      barmode: "group", height: 380, xaxis: {automargin: true}, yaxis: valueAxis(traces, "joules per output token")
    }, "No energy per token in the selected results.");
  }

  function memoryChart(rows) {
    var kinds = [["model_file_bytes", "model file", "#868e96"], ["peak_rss_bytes", "peak RSS (process tree)", "#1864ab"],
                 ["peak_device_bytes", "peak GPU memory", "#c2255c"]];
    var traces = kinds.map(function (k) {
      var t = trace(k[1], {type: "bar", marker: {color: k[2]}});
      rows.forEach(function (r) {
        if (r[k[0]] == null) return;
        t.x.push(plain(r.name));
        t.y.push(r[k[0]] / 1073741824);
        t.hovertext.push(plain(r.name) + "<br>" + k[1] + ": " + gib(r[k[0]]));
      });
      return t;
    });
    draw("chart-memory", traces, {
      barmode: "group", height: 380, xaxis: {automargin: true}, yaxis: valueAxis(traces, "GiB")
    }, "No memory figures in the selected results.");
  }

  function bandwidthChart(rows) {
    var kinds = [["bw_eff_measured", "bw_measured_gbps", "of measured bandwidth", "#0b7285"],
                 ["bw_eff_spec", "bw_spec_gbps", "of spec bandwidth", "#5f3dc4"]];
    var traces = kinds.map(function (k) {
      var t = trace(k[2], {type: "bar", marker: {color: k[3]}});
      rows.forEach(function (r) {
        if (r[k[0]] == null) return;
        t.x.push(plain(r.name));
        t.y.push(r[k[0]] * 100);
        t.hovertext.push(plain(r.name) + "<br>" + pct(r[k[0]]) + " " + k[2] + " (" + sig(r[k[1]]) + " GB/s), " + plain(r.bw_scenario));
      });
      return t;
    });
    draw("chart-bandwidth", traces, {
      barmode: "group", height: 380, xaxis: {automargin: true}, yaxis: {title: {text: "% of the decode roofline ceiling"}, rangemode: "tozero"}
    }, "No roofline figures in the selected results.");
  }

  function breakEvenChart(rows) {
    var order = DATA.apis.map(function (p) { return plain(p.provider + " · " + p.model); });
    var traces = [];
    rows.forEach(function (r) {
      if (!r.cost) return;
      var t = trace(r.name, {type: "scatter", mode: "markers", marker: {size: 10, color: PALETTE[traces.length % PALETTE.length]}});
      r.cost.apis.forEach(function (a, i) {
        var p = DATA.apis[i];               // a row's comparisons are in the order of the price table
        if (a.breakeven_tokens_per_month == null) return;
        t.x.push(a.breakeven_tokens_per_month);
        t.y.push(plain(p.provider + " · " + p.model));
        t.hovertext.push(plain(r.name) + " vs " + plain(p.provider + " " + p.model) + "<br>break-even " +
                         tokens(a.breakeven_tokens_per_month) + " tokens/month at " + pct(a.breakeven_utilisation) + " utilisation");
      });
      traces.push(t);
    });
    var n = order.length;
    draw("chart-breakeven", traces, {
      height: Math.max(320, 90 + 19 * n), margin: {l: 20, r: 20, t: 10, b: 50},
      xaxis: {type: "log", title: {text: "tokens per month (3 input : 1 output, log scale)"}},
      yaxis: {automargin: true, categoryorder: "array", categoryarray: order, tickfont: {size: 11}},
      legend: {orientation: "h", y: 1.02, yanchor: "bottom"}
    }, rows.some(function (r) { return r.cost; })
      ? "One machine cannot beat any API price at any utilisation for the selected results (see the cost details)."
      : "No priced result in the selection: " + rows.map(function (r) { return "n/a (" + r.cost_na + ")"; }).join("; "));
  }

  // ---- quality next to cost (bench eval, bench quality) ----------------------------------------
  function visiblePoints(points) {
    return points.filter(function (p) {
      return FILTERS.every(function (f) {
        var v = document.getElementById(f[1]).value;
        return v === "" || p[f[0]] === v;
      });
    });
  }

  // Sorted by cost, a point joins the front when it beats every cheaper one (better: higher or lower).
  function frontTrace(points, better, name) {
    var front = trace(name, {type: "scatter", mode: "lines", line: {color: "#212529", dash: "dot", width: 1.5}});
    var best = null;
    points.slice().sort(function (a, b) { return a.x - b.x || (better(a.y, b.y) ? -1 : 1); }).forEach(function (p) {
      if (best === null || better(p.y, best)) { front.x.push(p.x); front.y.push(p.y); front.hovertext.push("on the Pareto front<br>" + p.text); best = p.y; }
    });
    return front;
  }

  function accuracyChart() {
    var pts = visiblePoints(DATA.quality.evals), traces = {}, priced = [];
    pts.forEach(function (p) {
      if (p.usd_per_1k_tasks == null || p.accuracy == null) return;
      var key = (p.api ? "hosted API, at its list price" : "this machine's basis: " + p.machine) + (p.weights === "synthetic" ? " (synthetic weights)" : "");
      var t = traces[key] = traces[key] || trace(key, {type: "scatter", mode: "markers",
        marker: {size: 12, symbol: p.api ? "diamond" : (p.weights === "synthetic" ? "circle-open" : "circle")},
        error_y: {type: "data", symmetric: false, array: [], arrayminus: [], thickness: 1}});
      var text = plain(p.name) + "<br>accuracy " + pct(p.accuracy) + " (" + p.correct + "/" + p.n + ", Wilson 95% " +
                 pct(p.wilson95[0]) + "-" + pct(p.wilson95[1]) + ")<br>" + money(p.usd_per_1k_tasks) + " per 1,000 tasks: " +
                 plain(p.basis_text) + (p.note ? "<br>" + plain(p.note) : "");
      t.x.push(p.usd_per_1k_tasks);
      t.y.push(p.accuracy * 100);
      t.error_y.array.push((p.wilson95[1] - p.accuracy) * 100);
      t.error_y.arrayminus.push((p.accuracy - p.wilson95[0]) * 100);
      t.hovertext.push(text);
      priced.push({x: p.usd_per_1k_tasks, y: p.accuracy * 100, text: text});
    });
    var list = Object.keys(traces).sort().map(function (k, i) { traces[k].marker.color = PALETTE[i % PALETTE.length]; return traces[k]; });
    if (priced.length) list.push(frontTrace(priced, function (a, b) { return a > b; }, "Pareto front"));
    var unpriced = pts.filter(function (p) { return p.usd_per_1k_tasks == null; });
    draw("chart-accuracy", list, {
      height: 420, xaxis: {type: "log", title: {text: "$ per 1,000 tasks (log scale) — lower is better"}},
      yaxis: {title: {text: "task accuracy (%) — higher is better"}, range: [-5, 105]}
    }, pts.length ? "No priced bench eval outcome: " + unpriced.map(function (p) { return p.name + ": n/a (" + p.cost_why + ")"; }).join("; ")
                  : "No bench eval outcome in the selected results.");
  }

  function kldChart() {
    var pts = visiblePoints(DATA.quality.klds), traces = {}, priced = [];
    var published = trace("published for the real model (reference data, not measured here)", {type: "scatter", mode: "markers",
      marker: {size: 11, symbol: "square-open", color: "#868e96"}});
    pts.forEach(function (p) {
      if (p.usd_per_m_blended == null) return;
      var synthetic = p.weights === "synthetic";
      var key = p.machine + " · " + p.model + (synthetic ? " (synthetic weights: quantizer error)" : "");
      var t = traces[key] = traces[key] || trace(key, {type: "scatter", mode: "markers+text", textposition: "top center",
        text: [], marker: {size: 12, symbol: synthetic ? "circle-open" : "circle"},
        error_y: {type: "data", symmetric: false, array: [], arrayminus: [], thickness: 1}});
      var text = plain(p.name) + " against " + plain(p.reference) + "<br>mean KLD " + sig(p.kld) + " (95% " + sig(p.kld_ci95[0]) + "-" +
                 sig(p.kld_ci95[1]) + "), p99 " + sig(p.kld_p99) + ", top-1 agreement " + pct(p.same_top) + "<br>" +
                 money(p.usd_per_m_blended) + " per 1M tokens blended<br>" + plain(p.note);
      t.x.push(p.usd_per_m_blended);
      t.y.push(p.kld);
      t.text.push(plain(p.quant));
      t.error_y.array.push(Math.max(0, p.kld_ci95[1] - p.kld));
      t.error_y.arrayminus.push(Math.max(0, p.kld - Math.max(p.kld_ci95[0], p.kld * 1e-3)));
      t.hovertext.push(text);
      priced.push({x: p.usd_per_m_blended, y: p.kld, text: text});
      if (p.published) {
        published.x.push(p.usd_per_m_blended);
        published.y.push(p.published.kld[0]);
        published.hovertext.push(plain(p.quant) + ": published mean KLD " + sig(p.published.kld[0]) + " (" + plain(p.model) + ")<br>reference data, not measured here");
      }
    });
    var list = Object.keys(traces).sort().map(function (k, i) { traces[k].marker.color = PALETTE[i % PALETTE.length]; return traces[k]; });
    if (priced.length) list.push(frontTrace(priced, function (a, b) { return a < b; }, "Pareto front (measured points)"));
    if (published.x.length) list.push(published);
    var unpriced = pts.filter(function (p) { return p.usd_per_m_blended == null; });
    draw("chart-kld", list, {
      height: 420, xaxis: {type: "log", title: {text: "$ per 1M tokens, blended 3:1 (log scale) — lower is better"}},
      yaxis: {type: "log", title: {text: "mean KL divergence from the reference (nats, log scale) — lower is better"}}
    }, pts.length ? "No bench quality point has a cost: " + unpriced.map(function (p) { return p.name + ": n/a (" + p.cost_why + ")"; }).join("; ")
                  : "No bench quality outcome in the selected results.");
  }

  function renderLadder() {
    var box = document.getElementById("ladder"), msg = document.getElementById("ladder-empty");
    var groups = DATA.quality.ladder.filter(function (g) {
      var m = document.getElementById("f-machine").value, model = document.getElementById("f-model").value;
      return (m === "" || g.machine === m) && (model === "" || g.model === model);
    });
    box.textContent = "";
    msg.hidden = groups.length > 0;
    msg.textContent = "No result with a quant in the selection.";
    var quant = document.getElementById("f-quant").value;
    groups.forEach(function (g) {
      box.appendChild(el("h3", null, g.model + " on " + g.machine));
      var t = el("table", "ladder"), head = el("tr");
      ["Quant", "File", "Decode tok/s", "$ / 1M blended", "KLD vs reference", "Top-1 agreement", "PPL ratio",
       "Published (real model)", "Task accuracy"].forEach(function (h) { head.appendChild(el("th", null, h)); });
      t.appendChild(el("thead")).appendChild(head);
      var body = t.appendChild(el("tbody"));
      g.quants.forEach(function (q) {
        if (quant !== "" && q.quant !== quant) return;
        var tr = el("tr"), synthetic = q.weights === "synthetic";
        tr.appendChild(textCell(q.quant, synthetic ? "synthetic weights" : null));
        tr.appendChild(cell(q.file_bytes, gib, "not known"));
        tr.appendChild(cell(q.decode_tps, sig, "no tg run"));
        tr.appendChild(cell(q.usd_per_m_blended, money, q.cost_na || "no bench run"));
        tr.appendChild(cell(q.kld, function (v) { return sig(v) + (synthetic ? " (quantizer error)" : ""); }, "no bench quality"));
        tr.appendChild(cell(q.same_top, pct, "no bench quality"));
        tr.appendChild(cell(q.ppl_ratio, function (v) { return fixed(v, 4); }, "no bench quality"));
        var p = q.published;
        tr.appendChild(p ? textCell("KLD " + sig(p.kld) + (p.same_top != null ? ", top-1 " + pct(p.same_top) : "") +
                                    (p.ppl_ratio != null ? ", PPL ratio " + fixed(p.ppl_ratio, 4) : "") + (p.imatrix ? " (imatrix " + p.imatrix + ")" : ""),
                                    p.model + ": " + p.note + ". Reference data, not measured here: " + p.cite)
                         : cell(null, null, "none published for this model"));
        tr.appendChild(cell(q.accuracy, function (v) { return pct(v) + " (Wilson " + pct(q.wilson95[0]) + "-" + pct(q.wilson95[1]) + ")"; }, "no bench eval"));
        body.appendChild(tr);
      });
      box.appendChild(el("div", "scroll")).appendChild(t);
    });
  }

  // ---- per-result cost details -------------------------------------------------------------
  function renderDetails(rows) {
    var box = document.getElementById("details");
    box.textContent = "";
    rows.forEach(function (r) {
      var d = el("details");
      d.appendChild(el("summary", null, r.cost
        ? r.name + ": " + money(r.cost.usd_per_m_blended) + " per 1M tokens blended (" + r.cost.profile + ", " + r.cost.basis + ", " + pct(r.cost.utilisation) + " utilisation)"
        : r.name + ": cost n/a (" + r.cost_na + ")"));
      // filled when first opened: a fleet's hundreds of API tables are not built up front
      if (r.cost) d.addEventListener("toggle", function fill() {
        d.removeEventListener("toggle", fill);
        var c = r.cost, ul = el("ul");
        ul.appendChild(el("li", null, "Throughput: " + sig(c.throughput.output_tps) + " output tok/s and " + sig(c.throughput.input_tps) +
          " input tok/s from " + c.throughput.scenario + " (" + fixed(c.throughput.input_tokens, 0) + " in / " + fixed(c.throughput.output_tokens, 0) +
          " out per request), the highest " + (c.throughput.valid ? "valid aggregate output rate in the run."
          : "aggregate output rate in the run, which has no valid one (see the note below).")));
        ul.appendChild(el("li", null, "Basis: " + c.basis_text + "."));
        ul.appendChild(el("li", null, "Machine-hour: " + money(c.usd_per_hour) + " at " + pct(c.utilisation) + " utilisation = fixed " +
          money(c.hour.fixed) + " + idle power " + money(c.hour.idle_power) + " + busy power " + money(c.hour.busy_extra) + " × utilisation. Profile: " +
          c.profile_title + " (" + c.profile_how + "); source: " + c.profile_source + ", observed " + (c.profile_observed || "undated") + "."));
        c.notes.forEach(function (n) { ul.appendChild(el("li", null, n)); });
        d.appendChild(ul);
        var t = el("table", "apis"), head = el("tr");
        ["API", "blended $/1M", "API $ per 1k tasks", "self-hosted $ per 1k tasks", "break-even utilisation", "break-even tokens/month"].forEach(function (h) { head.appendChild(el("th", null, h)); });
        t.appendChild(el("thead")).appendChild(head);
        var body = t.appendChild(el("tbody"));
        c.apis.forEach(function (a, i) {
          var p = DATA.apis[i], tr = el("tr", a.like_for_like ? "same" : null);
          tr.appendChild(textCell(p.provider + " · " + p.model, a.like_for_like ? "serves the same model" : null));
          tr.appendChild(cell(p.blended, money));
          tr.appendChild(cell(a.usd_per_1k_tasks, money));
          tr.appendChild(cell(c.usd_per_1k_tasks, money));
          tr.appendChild(cell(a.breakeven_utilisation, pct, "never: " + a.never));
          tr.appendChild(cell(a.breakeven_tokens_per_month, tokens, "never"));
          body.appendChild(tr);
        });
        d.appendChild(t);
      });
      box.appendChild(d);
    });
  }

  // ---- API price table (not filtered: it is the reference) -----------------------------------
  function renderPrices() {
    var table = document.getElementById("prices"), head = el("tr");
    ["Provider", "Model", "Input", "Cached input", "Output", "Blended 3:1", "Observed", "Source"].forEach(function (h) { head.appendChild(el("th", null, h)); });
    table.appendChild(el("thead")).appendChild(head);
    var body = table.appendChild(el("tbody"));
    DATA.apis.forEach(function (p) {
      var tr = el("tr");
      tr.appendChild(textCell(p.provider));
      tr.appendChild(textCell(p.model, p.note || null));
      tr.appendChild(cell(p.input, money));
      tr.appendChild(cell(p.cached_input, money, "not listed"));
      tr.appendChild(cell(p.output, money));
      tr.appendChild(cell(p.blended, money));
      var stale = p.age_days == null || p.age_days > DATA.max_age_days;
      tr.appendChild(textCell(p.observed || "undated", stale ? (p.age_days == null ? "no date: check it" : p.age_days + " days old: check it") : null));
      var src = el("td", "source"), m = /^https?:\/\/\S+/.exec(p.source);
      if (m) {
        var a = el("a", null, m[0]);
        a.href = m[0];
        a.rel = "noopener noreferrer";
        src.appendChild(a);
        src.appendChild(document.createTextNode(p.source.slice(m[0].length)));
      } else {
        src.textContent = p.source;
      }
      tr.appendChild(src);
      if (stale) tr.className = "stale";
      body.appendChild(tr);
    });
  }

  // The table and the cost bases first; each chart after it in a task of its own, so the table
  // shows before plotly has drawn anything (the first paint of a big fleet's page). A filter
  // change redraws at once (`now`); body[data-ready] says everything is drawn.
  var DRAWN = 0;
  function render(now) {
    var rows = visibleRows(), groups = visibleGroups(), pass = ++DRAWN;
    var runs = groups.reduce(function (n, g) { return n + g.n; }, 0);
    document.getElementById("shown").textContent = runs + " of " + RUNS + " results shown";
    renderTable(groups);
    renderBases(rows);
    var steps = [costChart, paretoChart, interactivityChart, byQuantChart, energyChart, memoryChart, bandwidthChart, breakEvenChart,
                 accuracyChart, kldChart, renderLadder, renderDetails];
    if (now === true) {
      steps.forEach(function (step) { step(rows); });
      document.body.dataset.ready = "1";
      return;
    }
    document.body.dataset.ready = "";
    (function next(i) {
      if (pass !== DRAWN) return;               // a newer render took over
      if (i === steps.length) { document.body.dataset.ready = "1"; return; }
      steps[i](rows);
      setTimeout(next, 0, i + 1);
    })(0);
  }

  setupFilters();
  setupTable();
  renderPrices();
  render();
  window.rightsizeHelpers = {plain: plain, el: el, sig: sig};    // for candidates.js
})();
