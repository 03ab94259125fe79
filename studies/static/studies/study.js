// Enhancements only: every page works as a plain HTML form without this script.
(function () {
  "use strict";
  var forms = document.querySelectorAll("form.study-form");
  var submitting = false;

  function bump(kind) {
    var input = document.querySelector('input[data-count="' + kind + '"]');
    if (input) { input.value = String((parseInt(input.value, 10) || 0) + 1); }
  }

  // Quality signals the server stores with the answers: leaving the tab, pasting text.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { bump("focus"); }
  });
  document.querySelectorAll('input[type="text"]').forEach(function (field) {
    field.addEventListener("paste", function () { bump("paste"); });
  });

  forms.forEach(function (form) {
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
    form.addEventListener("submit", function () {
      submitting = true;
      // One click, one answer (the server stores a repeat once anyway).
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
    window.addEventListener("beforeunload", function (event) {
      if (dirty && !submitting && form.hasAttribute("data-warn-leave")) {
        event.preventDefault();
        event.returnValue = "";
      }
    });
  });
})();
