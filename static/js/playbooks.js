// Playbooks: small conveniences on the declare page and the playbook editor. Everything works without it.
(function () {
  "use strict";

  // The title arrives pre-filled with the playbook's start ("Outage: "): put the caret after it, so the
  // declarer just keeps typing.
  function caretToEnd(root) {
    var title = root.querySelector("#declare-form input[name=title]");
    if (!title) return;
    title.focus();
    var end = title.value.length;
    title.setSelectionRange(end, end);
  }

  // A row added to the editor: focus its first field, so keyboard users carry on where they are.
  function focusNewRow(evt) {
    var target = evt.detail && evt.detail.target;
    if (!target || !target.classList || !target.classList.contains("pb-rows")) return;
    var rows = target.querySelectorAll(".pb-row");
    var last = rows[rows.length - 1];
    var field = last && last.querySelector("input:not([type=hidden]), select, textarea");
    if (field) field.focus();
  }

  // Leaving the editor with unsaved changes asks first (a whole playbook is a lot to lose).
  function guardEditor() {
    var form = document.getElementById("playbook-form");
    if (!form) return;
    var dirty = false;
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (e) {
      if (dirty) { e.preventDefault(); e.returnValue = ""; }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    caretToEnd(document);
    guardEditor();
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    focusNewRow(evt);
    if (evt.detail && evt.detail.target && evt.detail.target.id === "declare-area") caretToEnd(document);
  });
})();
