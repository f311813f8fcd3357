// The @mention picker: in any textarea inside an element with data-mentions-url (the timeline composer, a
// correction, a statement comment, a review section), typing "@" and a few letters offers the incident's
// team as a listbox (ARIA combobox pattern: arrows move, Enter or Tab picks, Escape closes). Picking inserts
// the stable token "@[Name](id)" that the server resolves, checks and highlights. The choices are server-
// rendered HTML (translated there), so this file carries no user-facing text.
(function () {
  "use strict";

  const TRIGGER = /(^|[\s(])@([^\s@[\]()]{0,30})$/;
  let box = null; // the open listbox
  let field = null; // the textarea it serves
  let start = -1; // where the "@" is in the field
  let timer = null;
  let request = 0;
  let counter = 0;

  function urlFor(el) {
    const host = el.closest("[data-mentions-url]");
    return host ? host.getAttribute("data-mentions-url") : null;
  }

  function enhance(el) {
    if (el.dataset.mentionsReady) return;
    el.dataset.mentionsReady = "1";
    counter += 1;
    el.setAttribute("role", "combobox");
    el.setAttribute("aria-multiline", "true");
    el.setAttribute("aria-autocomplete", "list");
    el.setAttribute("aria-expanded", "false");
    el.setAttribute("aria-controls", "mention-listbox-" + counter);
    el.dataset.mentionsList = "mention-listbox-" + counter;
  }

  function options() {
    return box ? Array.from(box.querySelectorAll("[role=option]:not([aria-disabled=true])")) : [];
  }

  function active() {
    return box ? box.querySelector("[aria-selected=true]") : null;
  }

  function highlight(option) {
    options().forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option && field) {
      field.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }
  }

  function close() {
    if (timer !== null) window.clearTimeout(timer);
    timer = null;
    request += 1; // an answer still on its way is dropped
    if (box) box.remove();
    if (field) {
      field.setAttribute("aria-expanded", "false");
      field.removeAttribute("aria-activedescendant");
    }
    box = null;
    start = -1;
  }

  function open(el, html) {
    if (!box || field !== el) {
      close();
      field = el;
      box = document.createElement("ul");
      box.id = el.dataset.mentionsList;
      box.className = "mention-listbox";
      box.setAttribute("role", "listbox");
      const hint = el.getAttribute("aria-describedby");
      if (hint) box.setAttribute("aria-labelledby", hint);
      el.insertAdjacentElement("afterend", box);
      box.addEventListener("mousedown", function (evt) {
        const option = evt.target.closest("[role=option]");
        evt.preventDefault(); // keep the focus (and the caret) in the field
        if (option && option.getAttribute("aria-disabled") !== "true") pick(option);
      });
    }
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    box.replaceChildren(tpl.content);
    el.setAttribute("aria-expanded", "true");
    highlight(options()[0] || null);
  }

  function lookup(el) {
    const caret = el.selectionStart;
    const before = el.value.slice(0, caret);
    const match = TRIGGER.exec(before);
    const url = urlFor(el);
    if (!match || !url || el.selectionEnd !== caret) {
      close();
      return;
    }
    start = caret - match[2].length - 1;
    const query = match[2];
    if (timer !== null) window.clearTimeout(timer);
    timer = window.setTimeout(function () {
      const mine = ++request;
      const u = new URL(url, window.location.href);
      u.searchParams.set("q", query);
      fetch(u.toString(), { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (r) { return r.ok ? r.text() : ""; })
        .then(function (html) {
          if (mine !== request || document.activeElement !== el) return;
          if (!html) { close(); return; }
          const at = start;
          open(el, html);
          start = at;
        })
        .catch(close);
    }, 120);
  }

  function pick(option) {
    if (!field || start < 0) return;
    const el = field;
    const name = (option.dataset.name || "").replace(/[\]\n]/g, " ").trim();
    const token = "@[" + name + "](" + option.dataset.id + ") ";
    const caret = el.selectionStart;
    el.value = el.value.slice(0, start) + token + el.value.slice(caret);
    const after = start + token.length;
    close();
    el.focus();
    el.setSelectionRange(after, after);
  }

  document.addEventListener("focusin", function (evt) {
    const el = evt.target;
    if (el instanceof HTMLTextAreaElement && urlFor(el)) enhance(el);
  });

  document.addEventListener("input", function (evt) {
    const el = evt.target;
    if (!(el instanceof HTMLTextAreaElement) || !urlFor(el)) return;
    enhance(el);
    lookup(el);
  });

  document.addEventListener("keydown", function (evt) {
    if (!box || evt.target !== field) return;
    const all = options();
    const current = active();
    const index = all.indexOf(current);
    if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
      evt.preventDefault();
      if (!all.length) return;
      const step = evt.key === "ArrowDown" ? 1 : -1;
      highlight(all[(index + step + all.length) % all.length]);
    } else if ((evt.key === "Enter" && !evt.ctrlKey && !evt.metaKey) || evt.key === "Tab") {
      if (!current) { close(); return; }
      evt.preventDefault();
      evt.stopPropagation();
      pick(current);
    } else if (evt.key === "Escape") {
      evt.preventDefault();
      evt.stopPropagation();
      close();
    }
  }, true);

  document.addEventListener("focusout", function (evt) {
    if (evt.target === field) window.setTimeout(function () { if (document.activeElement !== field) close(); }, 0);
  });

  document.addEventListener("htmx:beforeSwap", function () { close(); });
})();
