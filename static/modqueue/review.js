// Keyboard shortcuts of the review console: v, n, e, s decide; c shows hidden content; u undoes
// the last decision; digits (then Shift+digits) toggle categories, each keeping its key on
// every item;
// "/" goes to the note. Keys typed into a text field are left alone, and a held-down key
// acts once.
(function () {
  "use strict";
  // An Undo offer goes once its time is up (the server refuses it from then on anyway).
  function expireUndo() {
    document.querySelectorAll("[data-undo-until]").forEach(function (form) {
      if (form.dataset.undoTimer) return;
      var left = Number(form.dataset.undoUntil) * 1000 - Date.now();
      form.dataset.undoTimer = "1";
      window.setTimeout(function () { form.remove(); }, Math.max(0, left));
    });
  }
  document.addEventListener("DOMContentLoaded", expireUndo);
  document.addEventListener("htmx:afterSettle", expireUndo);
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing || event.repeat) return;
    var target = event.target;
    if (target.closest && target.closest("textarea, input:not([type=checkbox]):not([type=radio]), select")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    // Digits by their physical key, so Shift+1 reads "shift+1" (not "!") on every layout.
    var digit = /^(?:Digit|Numpad)(\d)$/.exec(event.code || "");
    var key = digit ? (event.shiftKey ? "shift+" : "") + digit[1] : event.key.toLowerCase();
    var form = document.getElementById("decision");
    if (key === "/" && form) {
      event.preventDefault();
      form.querySelector("textarea").focus();
      return;
    }
    var button = document.querySelector('button[data-key="' + key + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      // While htmx sends a decision or puts the next item in place, a key is dropped: the
      // new item's form is not wired to htmx until it settles (a click then would post it
      // as a whole page), and a second decision must not ride on the first.
      // Only the decision's own request and swap count: the lease renewal and the navigation
      // counts poll in the background and must not eat a key.
      var work = document.getElementById("work");
      if ((form && form.classList.contains("htmx-request")) ||
          (work && (work.classList.contains("htmx-swapping") || work.classList.contains("htmx-settling")))) return;
      // A click (not requestSubmit) so htmx sends the button's verdict with the form.
      button.click();
      return;
    }
    var box = form && form.querySelector('input[data-key="' + key + '"]');
    if (box) {
      event.preventDefault();
      box.checked = !box.checked;
    }
  });
})();
