// liuan-bot console: live 24-hour countdowns (R17). No inline script: the CSP forbids it.
(function () {
  "use strict";
  var nodes = document.querySelectorAll(".countdown[data-deadline]");
  if (!nodes.length) { return; }
  // The server's clock decides (it may be a rehearsal clock): keep its offset to ours.
  var skew = 0;
  var first = nodes[0].getAttribute("data-now");
  if (first) { skew = Date.parse(first) - Date.now(); }
  function pad(n) { return n < 10 ? "0" + n : String(n); }
  function tick() {
    var now = Date.now() + skew;
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var left = Date.parse(node.getAttribute("data-deadline")) - now;
      if (left <= 0) {
        node.textContent = "已超过24小时，须立即召开发布会回应";
        node.classList.add("overdue");
        continue;
      }
      var s = Math.floor(left / 1000);
      node.textContent = "距24小时时限还剩 " + Math.floor(s / 3600) + " 小时 " + pad(Math.floor(s % 3600 / 60)) + " 分 " + pad(s % 60) + " 秒";
    }
  }
  tick();
  setInterval(tick, 1000);
})();
