"use strict";
// The "What to buy" section: per bench size demand, the candidates' $/month with their bands
// beside the APIs' bills, and accuracy against $/month with the Pareto front. It reads its own
// data block (DATA.sizes) and draws into its own section.
(function () {
  var DATA = JSON.parse(document.getElementById("rs-data").textContent);
  var S = DATA.sizes;
  if (!S || DATA.version !== 2) return;     // dashboards/page_data.py's VERSION; dashboard.js says so
  var CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  var HATCH = {color: "#ffffff", line: {color: "#5f3dc4", width: 1.5},
               pattern: {shape: "/", fillmode: "overlay", fgcolor: "#5f3dc4", solidity: 0.3}};
  var H = window.rightsizeHelpers, plain = H.plain, sig = H.sig;   // dashboard.js's, drawn the same way
  var FONT = {family: "system-ui, -apple-system, Segoe UI, sans-serif", size: 12};

  function bars(name, marker) {
    return {name: name, type: "bar", orientation: "h", marker: marker, x: [], y: [], hovertext: [], hoverinfo: "text",
            error_x: {type: "data", symmetric: false, array: [], arrayminus: [], color: "#343a40"}};
  }

  function costChart(i, d) {
    var measured = bars("MEASURED boxes, 95% band", {color: "#1864ab"});
    var projected = bars("PROJECTED boxes, validated band", HATCH);
    var api = bars("API bill for the same requests", {color: "#adb5bd"});
    d.candidates.forEach(function (c) {
      var t = c.projected ? projected : measured;
      t.x.push(c.usd_per_month);
      t.y.push(plain(c.name));
      t.error_x.array.push(c.usd_high - c.usd_per_month);
      t.error_x.arrayminus.push(c.usd_per_month - c.usd_low);
      t.hovertext.push(plain(c.name) + "<br>$" + sig(c.usd_per_month) + " a month (" + sig(c.usd_low) + "-" +
                       sig(c.usd_high) + "), " + c.boxes + " box(es) (" + c.boxes_range.join("-") + ")<br>capacity: " +
                       plain(c.level) + "<br>" + plain(c.basis));
    });
    d.apis.forEach(function (a) {
      api.x.push(a.usd_per_month);
      api.y.push(plain(a.name));
      api.error_x.array.push(0);
      api.error_x.arrayminus.push(0);
      api.hovertext.push(plain(a.name) + "<br>$" + sig(a.usd_per_month) + " a month at its list prices");
    });
    var n = d.candidates.length + d.apis.length;
    window.Plotly.react(document.getElementById("buy-cost-" + i), [api, measured, projected], {
      barmode: "overlay", height: Math.max(300, 90 + 19 * n), font: FONT, hoverlabel: {align: "left"},
      margin: {l: 20, r: 20, t: 10, b: 50}, legend: {orientation: "h", y: 1.02, yanchor: "bottom"},
      xaxis: {type: "log", title: {text: "$ a month for the demand (log scale)"}},
      yaxis: {automargin: true, categoryorder: "total ascending", tickfont: {size: 11}}
    }, CONFIG);
  }

  function accuracyChart(i, d) {
    var box = document.getElementById("buy-accuracy-" + i), msg = document.getElementById("buy-accuracy-" + i + "-empty");
    if (!d.points.length) {
      box.hidden = true;
      msg.hidden = false;
      msg.textContent = "No accuracy to plot: pass bench eval outcomes to bench size beside the results.";
      return;
    }
    var kinds = {measured: ["MEASURED", "#1864ab", "circle"], projected: ["PROJECTED", "#5f3dc4", "diamond-open"],
                 api: ["API", "#868e96", "square"]};
    var traces = Object.keys(kinds).map(function (k) {
      var pts = d.points.filter(function (p) { return p.kind === k; });
      return {name: kinds[k][0], type: "scatter", mode: "markers", x: pts.map(function (p) { return p.usd_per_month; }),
              y: pts.map(function (p) { return p.accuracy; }), hoverinfo: "text",
              marker: {color: kinds[k][1], symbol: kinds[k][2], size: 10},
              hovertext: pts.map(function (p) {
                return plain(p.name) + "<br>$" + sig(p.usd_per_month) + " a month, accuracy " + sig(100 * p.accuracy) + " %" +
                       (p.pareto ? "<br>on the Pareto front" : "");
              })};
    });
    var front = d.points.filter(function (p) { return p.pareto; })
      .sort(function (a, b) { return a.usd_per_month - b.usd_per_month; });
    traces.push({name: "Pareto front", type: "scatter", mode: "lines", line: {color: "#e67700", dash: "dot"},
                 x: front.map(function (p) { return p.usd_per_month; }), y: front.map(function (p) { return p.accuracy; }),
                 hoverinfo: "skip"});
    window.Plotly.react(box, traces, {
      height: 380, font: FONT, hoverlabel: {align: "left"}, margin: {l: 60, r: 20, t: 10, b: 50},
      legend: {orientation: "h", y: 1.02, yanchor: "bottom"},
      xaxis: {type: "log", title: {text: "$ a month for the demand (log scale)"}},
      yaxis: {title: {text: "accuracy (bench eval)"}, tickformat: ".0%", rangemode: "tozero"}
    }, CONFIG);
  }

  S.forEach(function (d, i) { costChart(i, d); accuracyChart(i, d); });
  document.getElementById("what-to-buy").dataset.ready = "1";
})();
