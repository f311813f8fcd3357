// Deadlines in the browser: live countdowns computed from the server's due time (data-due, ISO 8601),
// the overdue state the moment a countdown reaches zero, and a refresh of the deadline regions when the
// room's stream (or its polling fallback) brings a reminder, statement or status entry. No inline script,
// no eval (strict CSP).
(function () {
  "use strict";

  // Strings through the catalogue (i18n/catalog.js, loaded first); the English text when it is missing.
  const i18n = window.django || {
    gettext: function (s) { return s; },
    ngettext: function (s, p, n) { return n === 1 ? s : p; },
    interpolate: function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); },
  };
  const gettext = i18n.gettext;
  const ngettext = i18n.ngettext;
  function fmt_(text, values) { return i18n.interpolate(text, values, true); }
  // Dates in the page's language (html[lang]); English pages keep the British order of the server's dates.
  const LOCALE = (document.documentElement.lang || "en").replace(/^en$/, "en-GB");

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function format(ms) {
    const total = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    if (h >= 48) { const d = Math.floor(h / 24); return fmt_(ngettext("%(n)s day", "%(n)s days", d), { n: d }); }
    return h > 0 ? h + ":" + two(m) + ":" + two(s) : m + ":" + two(s);
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (row) {
      const due = Date.parse(row.dataset.due);
      if (isNaN(due)) return;
      const left = due - now;
      const out = row.querySelector("[data-countdown]");
      if (out) out.textContent = fmt_(left > 0 ? gettext("due in %(time)s") : gettext("overdue by %(time)s"), { time: format(left) });
      row.classList.toggle("is-overdue", left <= 0);
      row.classList.toggle("is-soon", left > 0 && left <= 10 * 60 * 1000);
    });
  }

  // --- live refresh ---------------------------------------------------------------------------------------
  const KINDS = ["reminder", "statement", "status", "severity"];

  function changed(html) {
    if (!window.htmx) return;
    htmx.trigger(document.body, "deadlines-changed");
    // A reminder or escalation usually rings someone's bell: ask for the count now, not at the next poll.
    if (/data-kind="reminder"/.test(html || "")) htmx.trigger(document.body, "notifications-changed");
  }

  function relevant(html) {
    const kind = (html.match(/data-kind="([a-z_]+)"/) || [])[1];
    return KINDS.indexOf(kind) !== -1;
  }

  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    const msg = evt.detail;
    if (msg && msg.type === "entry" && typeof msg.data === "string" && relevant(msg.data)) changed(msg.data);
  });

  // Polling fallback: entries inserted without stream events.
  function watchTimeline() {
    const timeline = document.getElementById("timeline");
    if (!timeline || !window.MutationObserver) return;
    let newest = 0;
    timeline.querySelectorAll(".entry[data-seq]").forEach(function (e) {
      newest = Math.max(newest, parseInt(e.dataset.seq, 10) || 0);
    });
    new MutationObserver(function (records) {
      let hit = false;
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1 || !node.matches(".entry[data-seq]")) return;
          const seq = parseInt(node.dataset.seq, 10) || 0;
          if (seq > newest) {
            newest = seq;
            if (KINDS.indexOf(node.dataset.kind) !== -1) hit = true;
          }
        });
      });
      if (hit) changed();
    }).observe(timeline, { childList: true, subtree: true });
  }

  // Never replace the panel under someone's fingers: while they type a snooze reason or hold a form
  // open, the refresh waits until they leave it.
  let deferred = false;
  function busy(region) {
    const active = document.activeElement;
    if (active && region.contains(active) && active.matches("textarea, input:not([type=hidden]), select")) return true;
    return Array.from(region.querySelectorAll("input[name=reason], input[name=title], input[name=due_at]")).some(function (i) {
      return i.value.trim() !== "" && i.value !== i.defaultValue;
    });
  }

  document.addEventListener("htmx:confirm", function (evt) {
    const region = evt.detail.elt;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-deadlines-live")) return;
    if (evt.detail.triggeringEvent && evt.detail.triggeringEvent.type === "deadlines-changed" && busy(region)) {
      evt.preventDefault();
      deferred = true;
    }
  });

  document.addEventListener("focusout", function () {
    if (!deferred) return;
    setTimeout(function () {
      const region = document.querySelector("[data-deadlines-live]");
      if (deferred && region && !busy(region)) {
        deferred = false;
        changed();
      }
    }, 300);
  });

  document.addEventListener("htmx:afterSwap", tick);

  function start() {
    tick();
    watchTimeline();
    setInterval(tick, 1000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
