// Keyboard shortcuts of the review console: v, n, e, s decide; digits toggle categories;
// "/" goes to the note. Keys typed into a text field are left alone.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    var target = event.target;
    if (target.closest && target.closest("textarea, input:not([type=checkbox]), select")) {
      if (event.key === "Escape") target.blur();
      return;
    }
    var form = document.getElementById("decision");
    if (!form) return;
    var key = event.key.toLowerCase();
    if (key === "/") {
      event.preventDefault();
      form.querySelector("textarea").focus();
      return;
    }
    var button = form.querySelector('button[data-key="' + key + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      // A click (not requestSubmit) so htmx sends the button's verdict with the form.
      button.click();
      return;
    }
    var box = form.querySelector('input[data-key="' + key + '"]');
    if (box) {
      event.preventDefault();
      box.checked = !box.checked;
    }
  });
})();
