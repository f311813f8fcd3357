// Listening regions (room mentions panel, response queue, monitoring page): keep them current without a
// push channel yet. Each region names a version URL; every few seconds we ask it (a tiny JSON answer) and
// re-fetch the region only when the version moved. A listening entry arriving on the room's stream (a spike
// posted to the timeline, a reply recorded) re-fetches at once. Nothing is replaced while someone types in
// the region. Also: choosing a reply template or an approved statement fills the reply box (a statement's
// text is then read-only: it goes out exactly as approved). No inline script, no eval (strict CSP).
(function () {
  "use strict";

  const POLL_MS = 5000;
  const KINDS = ["external", "evidence", "action"];

  function regions() {
    return Array.from(document.querySelectorAll("[data-mentions-live], [data-queue-live]"));
  }

  function busy(region) {
    const active = document.activeElement;
    if (active && region.contains(active) && active.matches("textarea, input:not([type=hidden]), select")) return true;
    if (region.querySelector("details[open] form")) return true;
    return Array.from(region.querySelectorAll("textarea, input[type=text], input[type=url], input:not([type])")).some(function (i) {
      return i.value.trim() !== "" && i.value !== i.defaultValue;
    });
  }

  let pending = false;
  function refresh() {
    if (!window.htmx) return;
    const idle = regions().every(function (r) { return !busy(r); });
    if (!idle) {
      pending = true;
      return;
    }
    pending = false;
    htmx.trigger(document.body, "mentions-changed");
  }

  const versions = new Map();
  function poll() {
    if (document.hidden) return;
    const seen = new Set();
    regions().forEach(function (region) {
      const url = region.dataset.versionUrl;
      if (!url || seen.has(url)) return;
      seen.add(url);
      if (region.dataset.version && !versions.has(url)) versions.set(url, region.dataset.version);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          const before = versions.get(url);
          versions.set(url, data.version);
          if (before !== undefined && before !== data.version) refresh();
        })
        .catch(function () { /* offline for a moment: the next poll tries again */ });
    });
  }

  // A listening entry on the room's stream (or its polling fallback) means the panel changed.
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    const msg = evt.detail;
    if (!msg || msg.type !== "entry" || typeof msg.data !== "string") return;
    const kind = (msg.data.match(/data-kind="([a-z_]+)"/) || [])[1];
    if (KINDS.indexOf(kind) !== -1 && document.querySelector("[data-mentions-live]")) refresh();
  });

  // A refreshed region reports its new version: do not fetch it again for the same change.
  document.addEventListener("htmx:afterSwap", function (evt) {
    const el = evt.detail && evt.detail.elt;
    regions().forEach(function (region) {
      if (region.dataset.version && region.dataset.versionUrl && (el === region || (el && el.contains && el.contains(region)))) {
        versions.set(region.dataset.versionUrl, region.dataset.version);
      }
    });
  });

  document.addEventListener("focusout", function () {
    if (!pending) return;
    setTimeout(function () { if (pending) refresh(); }, 400);
  });

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

  function start() {
    if (regions().length) setInterval(poll, POLL_MS);
    else {
      // The room's panel arrives after the page: start polling once it is there.
      document.addEventListener("htmx:afterSettle", function once() {
        if (!regions().length) return;
        document.removeEventListener("htmx:afterSettle", once);
        setInterval(poll, POLL_MS);
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
