// Listening pages: choosing a reply template or an approved statement fills the reply box (a statement's text
// is then read-only: it goes out exactly as approved). The listening regions (room panel, response queue,
// monitoring, alert page) are live regions kept current by static/js/live.js (data-live-*): nudged after
// each listening change, with live.js's own fallback when the stream is down. No inline script, no eval.
(function () {
  "use strict";

  // Reply with a template or an approved statement.
  document.addEventListener("change", function (evt) {
    const select = evt.target;
    if (!select.matches || !select.matches("select[data-reply-use]")) return;
    const box = document.getElementById(select.dataset.replyUse);
    if (!box) return;
    const option = select.options[select.selectedIndex];
    const statement = select.value.indexOf("statement:") === 0;
    if (option && option.dataset.text !== undefined) box.value = option.dataset.text;
    else if (box.readOnly) box.value = "";
    box.readOnly = statement;
    box.classList.toggle("is-readonly", statement);
  });
})();
