/* Podium web UI behaviour: metric charts (uPlot), the run picker for comparisons, and selects
   that submit their form. Pages work without it (tables, links and forms are plain HTML); this
   adds the plots and conveniences. Runs on page load and on every fragment htmx swaps in. */
(function () {
  "use strict";

  var PALETTE = ["#1f5fae", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0c8599",
                 "#c2255c", "#5f3dc4", "#495057", "#74b816"];
  var CHART_HEIGHT = 220;

  /* Chart data lives in <script type="application/json" id="metric-data"> as
     {key: [{label, run_id, steps: [...], values: [...]}, ...]}; each
     <div class="metric-chart" data-key="KEY"> gets one plot with one series per entry. */
  function chartData() {
    var node = document.getElementById("metric-data");
    if (!node) { return {}; }
    try { return JSON.parse(node.textContent || "{}"); } catch (e) { return {}; }
  }

  /* uPlot wants one shared x array: the union of every series' steps, with nulls for gaps. */
  function align(seriesList) {
    if (seriesList.length === 1) {
      return [seriesList[0].steps.slice(), seriesList[0].values.slice()];
    }
    var seen = {};
    var xs = [];
    seriesList.forEach(function (s) {
      s.steps.forEach(function (step) {
        if (!seen.hasOwnProperty(step)) { seen[step] = true; xs.push(step); }
      });
    });
    xs.sort(function (a, b) { return a - b; });
    var index = {};
    xs.forEach(function (x, i) { index[x] = i; });
    var data = [xs];
    seriesList.forEach(function (s) {
      var ys = new Array(xs.length).fill(null);
      for (var i = 0; i < s.steps.length; i++) { ys[index[s.steps[i]]] = s.values[i]; }
      data.push(ys);
    });
    return data;
  }

  function renderChart(el, seriesList) {
    if (el.dataset.rendered === "true") { return; }
    if (typeof uPlot === "undefined") {
      el.innerHTML = '<p class="chart-error">The chart library did not load.</p>';
      return;
    }
    if (!seriesList || seriesList.length === 0) {
      el.innerHTML = '<p class="muted">No points logged.</p>';
      el.dataset.rendered = "empty";
      return;
    }
    var series = [{ label: "step" }];
    seriesList.forEach(function (s, i) {
      series.push({
        label: s.label,
        stroke: PALETTE[i % PALETTE.length],
        width: 1.5,
        spanGaps: true,
        points: { show: s.steps.length <= 1 },
        value: function (u, v) { return v == null ? "—" : Number(v.toPrecision(5)); }
      });
    });
    var opts = {
      width: Math.max(el.clientWidth, 200),
      height: CHART_HEIGHT,
      scales: { x: { time: false } },
      axes: [{ label: "step" }, { size: 60 }],
      series: series,
      cursor: { drag: { x: true, y: false } }
    };
    el.textContent = "";
    var plot = new uPlot(opts, align(seriesList), el);
    el.dataset.rendered = "true";
    el.dataset.series = String(seriesList.length);
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () {
        var width = Math.max(el.clientWidth, 200);
        if (width !== plot.width) { plot.setSize({ width: width, height: CHART_HEIGHT }); }
      }).observe(el);
    }
  }

  function initCharts(root) {
    var charts = root.querySelectorAll(".metric-chart[data-key]");
    if (charts.length === 0) { return; }
    var data = chartData();
    charts.forEach(function (el) { renderChart(el, data[el.dataset.key] || []); });
  }

  /* The Compare button on the runs table is enabled once two or more runs are ticked. */
  function updateCompare(form) {
    var button = form.querySelector("[data-compare-button]");
    if (!button) { return; }
    var ticked = form.querySelectorAll("input[name='run_ids']:checked").length;
    button.disabled = ticked < 2;
    button.textContent = ticked >= 2 ? "Compare " + ticked + " runs" : "Compare";
  }

  function initCompare(root) {
    root.querySelectorAll("form[data-compare-form]").forEach(updateCompare);
  }

  function init(root) {
    initCharts(root);
    initCompare(root);
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLElement)) { return; }
    if (target.matches("select[data-autosubmit]") && target.form) {
      target.form.submit();
    }
    if (target.matches("input[name='run_ids']")) {
      var form = target.closest("form[data-compare-form]");
      if (form) { updateCompare(form); }
    }
    if (target.matches("input[data-select-all]")) {
      var all = target.closest("form[data-compare-form]");
      if (all) {
        all.querySelectorAll("input[name='run_ids']").forEach(function (box) {
          box.checked = target.checked;
        });
        updateCompare(all);
      }
    }
  });

  document.addEventListener("htmx:load", function (event) {
    if (event.detail && event.detail.elt) { init(event.detail.elt); }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(document); });
  } else {
    init(document);
  }
})();
