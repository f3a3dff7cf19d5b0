// Before/after slider with zoom (wheel or buttons) and pan (drag). Both images are the
// same pixel size (scale x the input) and are drawn at the same display size.
(function () {
  "use strict";
  function setup(root) {
    var viewport = root.querySelector(".viewport");
    var stage = root.querySelector(".stage");
    var before = root.querySelector(".before-clip");
    var divider = root.querySelector(".divider");
    var range = root.querySelector('input[type="range"]');
    var zoom = 1, tx = 0, ty = 0, drag = null;

    function apply() {
      stage.style.transform = "translate(" + tx + "px," + ty + "px) scale(" + zoom + ")";
      stage.classList.toggle("pixelated", zoom >= 2);
    }
    function split() {
      var v = Number(range.value);
      before.style.clipPath = "inset(0 " + (100 - v) + "% 0 0)";
      divider.style.left = v + "%";
    }
    function zoomAt(factor, cx, cy) {
      var next = Math.min(Math.max(zoom * factor, 1), 32);
      tx = cx - (cx - tx) * (next / zoom);
      ty = cy - (cy - ty) * (next / zoom);
      zoom = next;
      if (zoom === 1) { tx = 0; ty = 0; }
      apply();
    }

    range.addEventListener("input", split);
    viewport.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = viewport.getBoundingClientRect();
      zoomAt(e.deltaY < 0 ? 1.25 : 0.8, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
    viewport.addEventListener("pointerdown", function (e) {
      drag = { x: e.clientX - tx, y: e.clientY - ty };
      viewport.setPointerCapture(e.pointerId);
    });
    viewport.addEventListener("pointermove", function (e) {
      if (!drag || zoom === 1) return;
      tx = e.clientX - drag.x; ty = e.clientY - drag.y; apply();
    });
    viewport.addEventListener("pointerup", function () { drag = null; });
    root.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var r = viewport.getBoundingClientRect();
        if (b.dataset.zoom === "reset") { zoom = 1; tx = 0; ty = 0; apply(); return; }
        zoomAt(b.dataset.zoom === "in" ? 2 : 0.5, r.width / 2, r.height / 2);
      });
    });
    split(); apply();
  }
  document.querySelectorAll("[data-compare]").forEach(setup);
})();
