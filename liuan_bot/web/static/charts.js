// liuan-bot console: draws the evaluation's charts with the vendored Chart.js (no CDN, no
// inline script). Each <canvas data-chart="{...}"> carries its Chart.js configuration as JSON.
(function () {
  "use strict";
  function draw() {
    if (typeof window.Chart === "undefined") { return; }
    var canvases = document.querySelectorAll("canvas[data-chart]");
    for (var i = 0; i < canvases.length; i++) {
      try {
        var config = JSON.parse(canvases[i].getAttribute("data-chart"));
        var bars = config.data.labels.length;
        if (config.options.indexAxis === "y") {
          // one readable row per unit: the box grows with the number of units
          canvases[i].parentNode.style.height = (bars * 1.7 + 4) + "rem";
          config.options.scales = { y: { ticks: { autoSkip: false } } };
        }
        new window.Chart(canvases[i], config);
      } catch (e) { /* a chart that cannot be drawn leaves the tables, which say the same */ }
    }
  }
  if (document.readyState === "complete") { draw(); } else { window.addEventListener("load", draw); }
})();
