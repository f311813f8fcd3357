// The live timeline in the room. The htmx SSE extension keeps the stream; this file makes it lossless
// and honest: it resumes from the last entry it has, ignores entries it already shows, restates times in
// the viewer's zone, and after repeated stream failures falls back to polling — and says so.
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

  const root = document.getElementById("timeline");
  if (!root) return;
  const status = document.getElementById("live-status");
  const tz = document.body.dataset.tz || undefined;
  let lastSeq = parseInt(root.dataset.lastSeq || "0", 10);
  let failures = 0;
  let pollTimer = null;
  let streamUrl = root.getAttribute("sse-connect");

  function list() {
    return document.getElementById("timeline-entries");
  }

  // --- presentation -------------------------------------------------------------------------------------
  const formatter = new Intl.DateTimeFormat(LOCALE, {
    timeZone: tz, day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });

  function localise(scope) {
    scope.querySelectorAll("time[data-local]").forEach(function (el) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.textContent = formatter.format(when);
      el.title = when.toLocaleString(LOCALE, { timeZone: tz, timeZoneName: "long" });
      el.removeAttribute("data-local");
    });
  }

  // Corrections, retractions and pins are entries about other entries: reflect them on their targets.
  function applyState() {
    const entries = Array.from(document.querySelectorAll(".entry[data-target]"));
    entries.sort(function (a, b) { return a.dataset.seq - b.dataset.seq; });
    entries.forEach(function (e) {
      const target = document.getElementById("entry-" + e.dataset.target);
      if (!target) return;
      const kind = e.dataset.kind;
      if (kind === "correction") target.classList.add("is-corrected");
      if (kind === "retraction") target.classList.add("is-retracted");
      if (kind === "pin") target.classList.add("is-pinned");
      if (kind === "unpin") target.classList.remove("is-pinned");
    });
  }

  // The same entry can arrive twice (the POST's own answer and the stream): keep the first copy.
  function dedupe() {
    const seen = new Set();
    document.querySelectorAll("#timeline-entries > .entry").forEach(function (e) {
      if (seen.has(e.id)) e.remove(); else seen.add(e.id);
      const seq = parseInt(e.dataset.seq, 10);
      if (seq > lastSeq) lastSeq = seq;
    });
    const empty = document.querySelector(".timeline-empty");
    if (empty && seen.size) empty.remove();
  }

  function refresh() {
    dedupe();
    localise(document);
    applyState();
  }

  function say(text, degraded) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("live-status-degraded", !!degraded);
  }

  function wanted(html) {
    const l = list();
    if (!l || l.hasAttribute("data-frozen")) return false; // a filtered or jumped view does not move
    const kind = (html.match(/data-kind="([a-z]+)"/) || [])[1];
    return !l.dataset.filterKind || l.dataset.filterKind === kind;
  }

  // --- the stream ---------------------------------------------------------------------------------------
  // Every (re)connect names the last entry this page has: a new EventSource sends no Last-Event-ID.
  htmx.createEventSource = function (url) {
    const u = new URL(url, window.location.href);
    u.searchParams.set("after", String(lastSeq));
    return new EventSource(u.toString());
  };

  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    const msg = evt.detail;
    if (msg.type === "revoked") {
      // Removed from a restricted incident's team: the next page load says it is gone (404).
      evt.preventDefault();
      root.removeAttribute("sse-connect");
      window.location.reload();
      return;
    }
    if (msg.type === "presence") {
      evt.preventDefault();
      renderPresence(JSON.parse(msg.data));
      return;
    }
    if (msg.type !== "entry") return;
    const seq = parseInt(msg.lastEventId, 10);
    if (seq > lastSeq) lastSeq = seq;
    if (!document.getElementById("entry-" + seq)) summaryChanged(msg.data);
    if (document.getElementById("entry-" + seq) || !wanted(msg.data)) evt.preventDefault();
  });

  // A new version of the living summary lands on the timeline; the summary region at the top of the room
  // re-fetches itself on this event (hx-trigger="summary-changed from:body"). Not while its editor is open:
  // the typed text must survive, and saving it over a newer version answers with a conflict that shows both.
  function summaryChanged(html) {
    if (!/data-kind="summary"/.test(html)) return;
    const region = document.getElementById("summary-region");
    if (!region || region.hasAttribute("data-editing")) return;
    htmx.trigger(document.body, "summary-changed");
  }

  document.addEventListener("htmx:sseOpen", function () {
    failures = 0;
    stopPolling();
    say(gettext("Live"), false);
  });

  document.addEventListener("htmx:sseError", function () {
    failures += 1;
    if (failures >= 3 && pollTimer === null) startPolling();
    else if (pollTimer === null) say(gettext("Reconnecting…"), true);
  });

  ["htmx:afterSettle", "htmx:oobAfterSwap", "htmx:sseMessage"].forEach(function (name) {
    document.addEventListener(name, refresh);
  });

  // --- polling fallback ---------------------------------------------------------------------------------
  function startPolling() {
    // Stop the extension's own retries; polling takes over until a fresh stream opens.
    root.removeAttribute("sse-connect");
    say(gettext("Live updates interrupted — checking for new entries every 3 seconds."), true);
    pollTimer = window.setInterval(poll, 3000);
    poll();
  }

  function stopPolling() {
    if (pollTimer !== null) window.clearInterval(pollTimer);
    pollTimer = null;
  }

  let polls = 0;
  function poll() {
    const url = root.dataset.pollUrl + "?after=" + lastSeq;
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        const fresh = response.headers.get("X-Stream-Url");
        if (fresh) streamUrl = fresh;
        return response.text();
      })
      .then(function (html) {
        const tpl = document.createElement("template");
        tpl.innerHTML = html;
        Array.from(tpl.content.children).forEach(function (li) {
          if (!document.getElementById(li.id)) summaryChanged(li.outerHTML);
          if (!document.getElementById(li.id) && wanted(li.outerHTML)) {
            list().prepend(li);
            htmx.process(li);
          }
        });
        refresh();
        // Every half minute, try the live stream again with a freshly signed address.
        polls += 1;
        if (polls % 10 === 0 && streamUrl) {
          root.setAttribute("sse-connect", streamUrl);
          htmx.process(root);
        }
      })
      .catch(function () {
        say(gettext("Cannot reach the war room — retrying every 3 seconds. Nothing you post is lost once it shows here."), true);
      });
  }

  // --- presence -----------------------------------------------------------------------------------------
  function renderPresence(data) {
    const ul = document.getElementById("presence");
    if (!ul) return;
    ul.replaceChildren();
    (data.people || []).forEach(function (p) {
      const li = document.createElement("li");
      li.className = "presence-person";
      li.title = p.n;
      const badge = document.createElement("span");
      badge.className = "avatar avatar-small";
      badge.textContent = p.a;
      const name = document.createElement("span");
      name.textContent = p.n;
      li.append(badge, name);
      ul.append(li);
    });
  }

  // --- composer -----------------------------------------------------------------------------------------
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Enter" || !(evt.ctrlKey || evt.metaKey)) return;
    const form = evt.target.closest && evt.target.closest("#composer");
    if (form) {
      evt.preventDefault();
      form.requestSubmit();
    }
  });

  refresh();
})();
