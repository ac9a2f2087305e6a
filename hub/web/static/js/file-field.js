// Progressive enhancement for the file fields of _form.html (macro file_field): show
// the names of the chosen files beside the translated "Choose files" button. Without
// this script the button still opens the dialog and the form still sends the files.
// A static file because the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  function show(input, status) {
    var names = Array.prototype.map.call(input.files || [], function (file) {
      return file.name;
    });
    status.textContent = names.length ? names.join(", ") : status.getAttribute("data-text-none");
  }

  function enhance(field) {
    var input = field.querySelector("input[type=file]");
    var status = field.querySelector(".file-chosen");
    if (!input || !status) return;
    input.addEventListener("change", function () {
      show(input, status);
    });
    show(input, status); // a page restored from history may keep its files
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-file-field]"), enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
