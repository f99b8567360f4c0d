"use strict";
// The "candidate hardware" view: PROJECTED machines (hatched bars with their error bars) next to
// the measured results and the API prices. It reads its own data block (DATA.candidates) and
// draws into its own section: projected figures never reach the measured table or charts.
(function () {
  var DATA = JSON.parse(document.getElementById("rs-data").textContent);
  var C = DATA.candidates;
  if (!C || DATA.version !== 2) return;     // dashboards/page_data.py's VERSION; dashboard.js says so
  var CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  var HATCH = {color: "#ffffff", line: {color: "#5f3dc4", width: 1.5},
               pattern: {shape: "/", fillmode: "overlay", fgcolor: "#5f3dc4", solidity: 0.3}};

  var H = window.rightsizeHelpers, plain = H.plain, el = H.el, sig = H.sig;   // dashboard.js's, drawn the same way
  function pct(v) { return Math.round(v * 100) + " %"; }
  function band(b, r) { return b == null ? " (unvalidated: " + r.unvalidated + ")" : " ± " + pct(b) + " (p90 of the held-out error)"; }
  function trace(name, extra) {
    return Object.assign({name: plain(name), x: [], y: [], hovertext: [], hoverinfo: "text"}, extra);
  }
  function draw(id, traces, lay, emptyText) {
    var box = document.getElementById(id), msg = document.getElementById(id + "-empty");
    var n = traces.reduce(function (k, t) { return k + t.x.length; }, 0);
    if (!n) { box.hidden = true; msg.hidden = false; msg.textContent = emptyText; return; }
    window.Plotly.react(box, traces, Object.assign({
      margin: {l: 20, r: 20, t: 10, b: 50}, font: {family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12},
      legend: {orientation: "h", y: 1.02, yanchor: "bottom"}, hoverlabel: {align: "left"}
    }, lay), CONFIG);
  }

  // measured rows of a model and quantization the candidates are projected for: like with like
  var PROJECTED_COMBOS = {};
  C.rows.forEach(function (r) { PROJECTED_COMBOS[r.model + " " + r.quant] = true; });
  function comparable(r) { return PROJECTED_COMBOS[r.model + " " + r.quant] === true; }

  function costChart() {
    var api = trace("API list price", {type: "bar", orientation: "h", marker: {color: "#adb5bd"}});
    var measured = trace("measured here (bench run)", {type: "bar", orientation: "h", marker: {color: "#1864ab"}});
    var projected = trace("PROJECTED (not measured), with its error band", {type: "bar", orientation: "h", marker: HATCH,
      error_x: {type: "data", symmetric: false, array: [], arrayminus: [], color: "#5f3dc4"}});
    DATA.apis.forEach(function (p) {
      if (p.model_class !== "open 7B-14B" && !p.serves.length) return;
      api.x.push(p.blended);
      api.y.push(plain(p.provider + " · " + p.model));
      api.hovertext.push(plain(p.provider + " " + p.model) + "<br>blended " + sig(p.blended) + " $/1M, observed " + plain(p.observed || "undated"));
    });
    DATA.rows.forEach(function (r) {
      if (!r.cost || !comparable(r)) return;
      measured.x.push(r.cost.usd_per_m_blended);
      measured.y.push(plain(r.name + " (measured)"));
      measured.hovertext.push(plain(r.name) + "<br>measured: " + sig(r.cost.usd_per_m_blended) + " $/1M blended<br>" + plain(r.cost.basis_text));
    });
    C.rows.forEach(function (r) {
      if (r.usd_per_m_blended == null) return;
      projected.x.push(r.usd_per_m_blended);
      projected.y.push(plain(r.name));
      projected.error_x.array.push(r.usd_high == null ? 0 : r.usd_high - r.usd_per_m_blended);
      projected.error_x.arrayminus.push(r.usd_low == null ? 0 : r.usd_per_m_blended - r.usd_low);
      projected.hovertext.push(plain(r.name) + "<br>PROJECTED " + sig(r.usd_per_m_blended) + " $/1M blended" + plain(band(r.usd_band, r)) +
        (r.usd_band != null && r.usd_high == null ? "<br>no upper bound: a throughput band of 100 % or more allows any cost" : "") +
        "<br>" + plain(r.basis_text) + "<br>" + plain(r.notes.join("; ")));
    });
    var n = api.x.length + measured.x.length + projected.x.length;
    draw("chart-candidate-cost", [api, measured, projected], {
      barmode: "overlay", height: Math.max(320, 90 + 19 * n),
      xaxis: {type: "log", title: {text: "$ per 1M tokens, blended 3 input : 1 output (log scale)"}},
      yaxis: {automargin: true, categoryorder: "total ascending", tickfont: {size: 11}}
    }, "No priced projection: " + C.rows.map(function (r) { return r.name + ": n/a (" + r.cost_na + ")"; }).join("; "));
  }

  function tgChart() {
    var measured = trace("measured here: tg<N> mean", {type: "bar", marker: {color: "#1864ab"}});
    var projected = trace("PROJECTED decode tok/s (batch 1), with its error band", {type: "bar", marker: HATCH,
      error_y: {type: "data", symmetric: false, array: [], arrayminus: [], color: "#5f3dc4"}});
    DATA.rows.forEach(function (r) {
      if (r.decode_tps == null || !comparable(r)) return;
      measured.x.push(plain(r.name + " (measured)"));
      measured.y.push(r.decode_tps);
      measured.hovertext.push(plain(r.name) + "<br>measured " + sig(r.decode_tps) + " tok/s (" + plain(r.decode_scenario) + ")");
    });
    C.rows.forEach(function (r) {
      if (r.tg == null) return;
      projected.x.push(plain(r.name));
      projected.y.push(r.tg);
      projected.error_y.array.push(r.tg_high == null ? 0 : r.tg_high - r.tg);
      projected.error_y.arrayminus.push(r.tg_low == null ? 0 : r.tg - r.tg_low);
      projected.hovertext.push(plain(r.name) + "<br>PROJECTED " + sig(r.tg) + " tok/s (batch 1)" + plain(band(r.band, r)));
    });
    draw("chart-candidate-tg", [measured, projected], {
      height: 460, margin: {l: 70, r: 20, t: 40, b: 50}, xaxis: {automargin: true},
      yaxis: {type: "log", title: {text: "decode tokens/s (log scale)"}}
    }, "No decode figure to compare.");
  }

  function table(id, head, rows) {
    var t = document.getElementById(id), tr = el("tr");
    head.forEach(function (h) { tr.appendChild(el("th", null, h)); });
    t.appendChild(el("thead")).appendChild(tr);
    var body = t.appendChild(el("tbody"));
    rows.forEach(function (cells) {
      var row = el("tr");
      cells.forEach(function (c) { row.appendChild(el("td", null, c)); });
      body.appendChild(row);
    });
  }

  function num(v) { return v == null ? "n/a" : sig(v); }

  costChart();
  tgChart();
  table("candidate-validation", ["class", "figure", "machines", "rows", "median |error|", "p90 |error| (worst way)",
                                 "coverage", "verdict"],
    C.validation.map(function (s) {
      return [s.platform, s.kind, String(s.machines), String(s.rows), pct(s.median), pct(s.p90) + " (" + s.worst + ")",
              s.coverage == null ? "n/a" : pct(s.coverage),
              s.unvalidated ? "unvalidated: " + s.unvalidated : s.misses.length ? "misses: " + s.misses.join("; ")
              : s.target_median == null ? "no target set" : "meets the target"];
    }));
  table("reference-rows", ["machine", "backend", "model", "pp512 tok/s", "tg128 tok/s", "serving tok/s", "flags", "source", "date"],
    C.reference.map(function (r) {
      return [r.machine, r.backend + " (" + r.engine + ")", r.model + " " + r.quant, num(r.pp512), num(r.tg128),
              r.output_tps == null ? "" : sig(r.output_tps) + " at " + r.concurrency + " sequences", r.flags,
              r.source, r.date + " (" + r.date_is + ")" + (r.build_date ? "; build " + r.build_date : "")];
    }));
  document.getElementById("candidates").dataset.ready = "1";
})();
