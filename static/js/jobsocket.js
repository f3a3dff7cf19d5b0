// Live job progress: a websocket per [data-job] element. The server sends the stored
// snapshot on connect, so a reload or reconnect shows the truth at once. While the socket is
// down we reconnect with exponential backoff and poll the JSON status meanwhile.
(function () {
  "use strict";
  var TERMINAL = { done: true, failed: true, cancelled: true };

  function eta(seconds) {
    if (seconds === null || seconds === undefined) return "";
    var s = Math.round(seconds);
    return "ETA " + (s >= 60 ? Math.floor(s / 60) + " min " + (s % 60) + " s" : s + " s");
  }

  function watch(el) {
    var field = function (name) { return el.querySelector('[data-field="' + name + '"]'); };
    var ws = null, delay = 1000, pollTimer = null, finished = false;

    var previewAt = null;

    function unit(stage) {
      if (stage === "tiling") return "tile ";
      return stage === "encoding" && el.dataset.media === "video" ? "frame " : "";
    }

    // A video job's latest upscaled frame: loaded again when the worker made a new one.
    function preview(metrics) {
      var img = field("preview");
      if (!img || !metrics.preview || metrics.preview === previewAt) return;
      previewAt = metrics.preview;
      img.src = img.dataset.src + "?v=" + encodeURIComponent(previewAt);
      img.hidden = false;
    }

    function render(job) {
      var p = job.progress || {};
      var metrics = p.metrics || {};
      el.dataset.status = job.status;
      field("status").textContent = job.status;
      field("stage").textContent = p.stage || "";
      field("count").textContent = p.total ? unit(p.stage) + p.current + "/" + p.total : "";
      var fps = field("fps");
      if (fps) fps.textContent = job.status === "running" && metrics.fps ?
        metrics.fps.toFixed(1) + " fps" : "";
      preview(metrics);
      field("eta").textContent = job.status === "running" ? eta(p.eta_s) : "";
      field("message").textContent = p.message || "";
      field("error").textContent = job.error || "";
      var bar = field("bar");
      if (job.status === "done") bar.value = 1;
      else if (p.total) bar.value = p.current / p.total;
      else bar.removeAttribute("value");  // indeterminate
      if (TERMINAL[job.status]) finish(job);
    }

    function finish(job) {
      finished = true;
      stopPolling();
      if (ws) ws.close();
      if (job.status === "done") field("result-link").hidden = false;
      var cancel = document.querySelector('[data-field="cancel"]');
      if (cancel) cancel.hidden = true;
    }

    function setLive(live) { field("conn").className = "conn" + (live ? " live" : ""); }

    function poll() {
      fetch(el.dataset.poll, { credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (job) { if (job) render(job); })
        .catch(function () {});
    }
    function startPolling() { if (!pollTimer && !finished) { poll(); pollTimer = setInterval(poll, 2000); } }
    function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }

    function connect() {
      if (finished) return;
      var proto = location.protocol === "https:" ? "wss:" : "ws:";
      ws = new WebSocket(proto + "//" + location.host + el.dataset.ws);
      ws.onopen = function () { delay = 1000; setLive(true); stopPolling(); };
      ws.onmessage = function (e) {
        var msg = JSON.parse(e.data);
        if (msg.job) render(msg.job);
      };
      ws.onclose = function () {
        setLive(false);
        if (finished) return;
        startPolling();
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }

    if (TERMINAL[el.dataset.status]) { poll(); return; }
    connect();
  }

  document.querySelectorAll("[data-job]").forEach(watch);
})();
