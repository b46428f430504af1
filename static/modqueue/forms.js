// A <select data-submit-on-change> submits its form as soon as it is changed; the submit
// button beside it does the same without JavaScript. A listener here rather than an onchange
// attribute: the Content-Security-Policy runs no inline code.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("select[data-submit-on-change]") && field.form) {
      field.form.submit();
    }
  });
})();
