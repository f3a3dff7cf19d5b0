// Drag-and-drop onto the upload form: dropped files join those picked with the file picker.
(function () {
  "use strict";
  var drop = document.getElementById("drop");
  if (!drop) return;
  var input = drop.querySelector('input[type="file"]');
  var list = document.getElementById("picked");

  function show() {
    list.innerHTML = "";
    Array.prototype.forEach.call(input.files, function (f) {
      var li = document.createElement("li");
      li.textContent = f.name + " (" + Math.round(f.size / 1024) + " KiB)";
      list.appendChild(li);
    });
  }
  ["dragenter", "dragover"].forEach(function (t) {
    drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (t) {
    drop.addEventListener(t, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (e) {
    e.preventDefault();
    var all = new DataTransfer();
    Array.prototype.forEach.call(input.files, function (f) { all.items.add(f); });
    Array.prototype.forEach.call(e.dataTransfer.files, function (f) { all.items.add(f); });
    input.files = all.files;
    show();
  });
  input.addEventListener("change", show);
})();
