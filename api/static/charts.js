/* socmon console: bar-like line charts (uPlot) from a data-series attribute
   ({"t": [unix seconds], "n": [counts]}); redrawn when htmx swaps the overview in. */
(function () {
  "use strict";

  function draw(el) {
    if (!window.uPlot || el.dataset.drawn) return;
    var s = JSON.parse(el.dataset.series || '{"t":[],"n":[]}');
    var style = getComputedStyle(document.body);
    var ink = style.color || "#222";
    el.dataset.drawn = "1";
    new window.uPlot({
      width: Math.max(280, el.clientWidth || 600),
      height: 180,
      legend: { show: false },
      axes: [{ stroke: ink }, { stroke: ink }],
      series: [{}, { label: el.dataset.label || "", stroke: ink, width: 2, points: { show: true } }]
    }, [s.t, s.n], el);
  }

  function drawAll() {
    document.querySelectorAll("[data-series]").forEach(draw);
  }

  if (document.readyState !== "loading") drawAll();
  else document.addEventListener("DOMContentLoaded", drawAll);
  document.addEventListener("htmx:afterSettle", drawAll);
})();
