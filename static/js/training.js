// Live training run page. The whole history comes with the page (from the database); the
// job's websocket then adds each logged step and validation as it happens. On every stage
// change, reconnect or while the socket is down, status.json returns the run and its whole
// history again, so the charts never depend on having seen every message.
(function () {
  "use strict";
  var root = document.getElementById("run");
  if (!root) return;
  var TERMINAL = { done: true, failed: true, cancelled: true };
  var history = JSON.parse(document.getElementById("history").textContent);
  var run = JSON.parse(document.getElementById("payload").textContent);
  var field = function (n) { return document.querySelector('[data-field="' + n + '"]'); };
  var ws = null, delay = 1000, pollTimer = null, lastStage = null, lastJob = run.job.id;

  function series(kind, key, label, color) {
    return { label: label, color: color, points: history[kind].filter(function (p) {
      return key in p; }).map(function (p) { return [p.step, p[key]]; }) };
  }
  function redraw() {
    var charts = {
      loss: [series("train", "loss", "loss", "#c0392b")],
      lr: [series("train", "lr", "lr", "#2c7be5")],
      psnr: [series("val", "psnr", "psnr", "#27ae60")],
      ssim: [series("val", "ssim", "ssim", "#8e44ad")],
    };
    document.querySelectorAll("[data-chart]").forEach(function (c) {
      window.SRChart.draw(c, charts[c.dataset.chart]);
    });
  }
  function eta(s) {
    if (s === null || s === undefined) return "";
    s = Math.round(s);
    return "ETA " + (s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s");
  }
  function addPoint(p) {  // the live event as a history point (the DB has it too)
    var m = p.metrics || {}, kind = null;
    if (p.stage === "training" && "loss" in m) kind = "train";
    if (p.stage === "validating" && "psnr" in m) kind = "val";
    if (!kind) return;
    var list = history[kind], last = list[list.length - 1];
    if (last && last.step >= p.current) return;
    list.push(Object.assign({ step: p.current, eta_s: p.eta_s }, m));
    redraw();
  }
  function renderJob(job) {
    var p = job.progress || {}, m = p.metrics || {};
    field("status").textContent = job.status;
    field("stage").textContent = p.stage || "";
    if (p.total) field("step").textContent = p.current + "/" + p.total;
    if ("it/s" in m && m["it/s"] !== null) field("speed").textContent = m["it/s"].toFixed(1) + " steps/s";
    field("eta").textContent = job.status === "running" ? eta(p.eta_s) : "";
    field("message").textContent = p.message || "";
    field("error").textContent = job.error || "";
    var bar = field("bar");
    if (job.status === "done") bar.value = 1; else if (p.total) bar.value = p.current / p.total;
    field("cancel").hidden = !!TERMINAL[job.status];
    addPoint(p);
    if (p.stage !== lastStage || TERMINAL[job.status]) { lastStage = p.stage; refresh(); }
  }
  function renderRun(r) {
    run = r;
    field("resume").hidden = !r.can_resume;
    field("promote").hidden = !(r.checkpoints.best || r.checkpoints.last);
    if (r.sample_step) {
      field("sample-step").textContent = "step " + r.sample_step;
      document.querySelectorAll("[data-sample]").forEach(function (img) {
        var src = root.dataset.sample.replace("KIND", img.dataset.sample) + "?v=" + r.sample_step;
        if (img.getAttribute("src") !== src) img.src = src;
      });
    }
    if (r.job.id !== lastJob) { lastJob = r.job.id; if (ws) ws.close(); }  // resumed elsewhere
  }
  function refresh() {
    return fetch(root.dataset.runStatus, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d) return;
        history = d.history; redraw(); renderRun(d.run);
        field("status").textContent = d.run.job.status;
        if (TERMINAL[d.run.job.status]) stopPolling();
      }).catch(function () {});
  }
  function startPolling() { if (!pollTimer) pollTimer = setInterval(refresh, 3000); }
  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }
  function connect() {
    if (TERMINAL[run.job.status]) return;
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws/jobs/" + run.job.id + "/");
    ws.onopen = function () { delay = 1000; field("conn").className = "conn live"; stopPolling(); };
    ws.onmessage = function (e) { var msg = JSON.parse(e.data); if (msg.job) renderJob(msg.job); };
    ws.onclose = function () {
      field("conn").className = "conn";
      if (TERMINAL[run.job.status]) return;
      startPolling();
      setTimeout(function () { refresh().then(connect); }, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  redraw();
  renderJob(run.job);
  connect();
})();
