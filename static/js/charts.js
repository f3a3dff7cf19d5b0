// Minimal line charts on <canvas>: SRChart.draw(canvas, series) where series is a list of
// {label, color, points: [[x, y], ...]}. Axes are fitted to the data; nothing is retained,
// so callers redraw with the whole history whenever it changes.
(function () {
  "use strict";
  var PAD = { l: 58, r: 10, t: 10, b: 24 };

  function fmt(v) {
    var a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(1);
    return a >= 100 ? v.toFixed(0) : a >= 1 ? v.toFixed(2) : v.toPrecision(3);
  }

  function bounds(series) {
    var b = { x0: Infinity, x1: -Infinity, y0: Infinity, y1: -Infinity };
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        if (p[1] === null || !isFinite(p[1])) return;
        b.x0 = Math.min(b.x0, p[0]); b.x1 = Math.max(b.x1, p[0]);
        b.y0 = Math.min(b.y0, p[1]); b.y1 = Math.max(b.y1, p[1]);
      });
    });
    if (b.x0 === Infinity) return null;
    b.last = b.x1;  // before the padding below
    if (b.x1 === b.x0) b.x1 = b.x0 + 1;
    if (b.y1 === b.y0) { var d = Math.abs(b.y0) * 0.05 || 1; b.y0 -= d; b.y1 += d; }
    return b;
  }

  function draw(canvas, series) {
    var ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px sans-serif"; ctx.fillStyle = "#555"; ctx.strokeStyle = "#ccc";
    var b = bounds(series);
    // Chart state for tests and scripts: how many points, and the last x drawn.
    canvas.dataset.points = series.reduce(function (n, s) { return n + s.points.length; }, 0);
    canvas.dataset.lastX = b ? b.last : "";
    if (!b) { ctx.fillText("no data yet", w / 2 - 30, h / 2); return; }
    var pw = w - PAD.l - PAD.r, ph = h - PAD.t - PAD.b;
    var X = function (x) { return PAD.l + (x - b.x0) / (b.x1 - b.x0) * pw; };
    var Y = function (y) { return PAD.t + (1 - (y - b.y0) / (b.y1 - b.y0)) * ph; };
    ctx.beginPath();
    for (var i = 0; i <= 4; i++) {  // horizontal grid lines with their values
      var yv = b.y0 + (b.y1 - b.y0) * i / 4, yp = Y(yv);
      ctx.moveTo(PAD.l, yp); ctx.lineTo(w - PAD.r, yp);
      ctx.fillText(fmt(yv), 4, yp + 4);
    }
    ctx.stroke();
    ctx.fillText("step " + Math.round(b.x0), PAD.l, h - 6);
    ctx.fillText(String(Math.round(b.x1)), w - PAD.r - 40, h - 6);
    series.forEach(function (s) {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = 1.5;
      ctx.beginPath();
      var started = false;
      s.points.forEach(function (p) {
        if (p[1] === null || !isFinite(p[1])) { started = false; return; }
        if (started) ctx.lineTo(X(p[0]), Y(p[1])); else ctx.moveTo(X(p[0]), Y(p[1]));
        started = true;
      });
      ctx.stroke();
      if (s.points.length < 30) s.points.forEach(function (p) {  // few points: mark them
        if (p[1] !== null) ctx.fillRect(X(p[0]) - 2, Y(p[1]) - 2, 4, 4);
      });
    });
    ctx.lineWidth = 1;
  }

  window.SRChart = { draw: draw };
})();
