// Two players, one control: the upscaled clip leads and the input follows it (play, pause,
// seek, frame steps, speed). While paused, both current frames are drawn into the canvases of
// the before/after slider (compare.js), the input at the output's size.
// The root's data-state ("playing" / "paused") and data-frames ("ready" once the paused
// frames are drawn) say where it stands.
(function () {
  "use strict";
  var DRIFT_S = 0.06;  // the follower is put back on the leader's time past this

  function clock(t) {
    if (!isFinite(t)) t = 0;
    var m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }

  function setup(root) {
    var out = root.querySelector(".v-output"), inp = root.querySelector(".v-input");
    var ctl = function (name) { return root.querySelector('[data-v="' + name + '"]'); };
    var play = ctl("play"), seek = ctl("seek"), time = ctl("time"), frames = ctl("frames");
    var fps = Number(root.dataset.fps) || 25;
    var following = false;

    function duration() { return isFinite(out.duration) ? out.duration : 0; }
    function show() {
      time.textContent = clock(out.currentTime) + " / " + clock(duration());
      if (duration()) seek.value = Math.round(1000 * out.currentTime / duration());
    }

    function follow() {  // while playing: keep the input on the output's time
      if (out.paused) { following = false; return; }
      if (Math.abs(inp.currentTime - out.currentTime) > DRIFT_S) inp.currentTime = out.currentTime;
      show();
      requestAnimationFrame(follow);
    }

    function settled(video) {  // resolves once `video` shows the frame of its currentTime
      return new Promise(function (resolve) {
        if (!video.seeking && video.readyState >= 2) { resolve(); return; }
        var done = function () {
          video.removeEventListener("seeked", done);
          video.removeEventListener("loadeddata", done);
          resolve();
        };
        video.addEventListener("seeked", done);
        video.addEventListener("loadeddata", done);
      });
    }

    function draw() {
      var w = out.videoWidth, h = out.videoHeight;
      if (!w || !h || !out.paused) return;
      [["after", out], ["before", inp]].forEach(function (pair) {
        var canvas = frames.querySelector("canvas." + pair[0]);
        canvas.width = w; canvas.height = h;
        canvas.getContext("2d").drawImage(pair[1], 0, 0, w, h);
      });
      frames.hidden = false;
      root.dataset.frames = "ready";
    }

    function paused() {  // both on the same frame, then the frames into the slider
      root.dataset.state = "paused";
      play.textContent = "Play";
      inp.pause();
      if (Math.abs(inp.currentTime - out.currentTime) > 1e-3) inp.currentTime = out.currentTime;
      show();
      Promise.all([settled(out), settled(inp)]).then(draw);
    }

    function goTo(t) {
      t = Math.min(Math.max(t, 0), duration() || 0);
      delete root.dataset.frames;
      out.currentTime = t;
      inp.currentTime = t;
      show();
      if (out.paused) Promise.all([settled(out), settled(inp)]).then(draw);
    }

    play.addEventListener("click", function () {
      if (!out.paused) { out.pause(); return; }
      if (out.ended) goTo(0);
      inp.currentTime = out.currentTime;
      Promise.all([out.play(), inp.play()]).catch(function () {});
    });
    out.addEventListener("play", function () {
      root.dataset.state = "playing";
      delete root.dataset.frames;
      play.textContent = "Pause";
      frames.hidden = true;
      if (inp.paused) inp.play().catch(function () {});
      if (!following) { following = true; requestAnimationFrame(follow); }
    });
    out.addEventListener("pause", paused);
    out.addEventListener("ended", paused);
    out.addEventListener("loadedmetadata", show);
    out.addEventListener("loadeddata", function () { if (out.paused) paused(); });
    inp.addEventListener("loadeddata", function () { if (out.paused) paused(); });
    seek.addEventListener("input", function () { goTo(Number(seek.value) / 1000 * duration()); });
    ctl("back").addEventListener("click", function () { out.pause(); goTo(out.currentTime - 1 / fps); });
    ctl("next").addEventListener("click", function () { out.pause(); goTo(out.currentTime + 1 / fps); });
    ctl("rate").addEventListener("change", function (e) {
      out.playbackRate = inp.playbackRate = Number(e.target.value);
    });
    var sound = ctl("sound");
    out.muted = !sound.checked;  // muted until asked: the page may not start sound by itself
    sound.addEventListener("change", function () { out.muted = !sound.checked; });
    root.dataset.state = "paused";
  }

  document.querySelectorAll("[data-vcompare]").forEach(setup);
})();
