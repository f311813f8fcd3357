// Live regions (README, "Live updates"). Every page has ONE push stream: the room its timeline stream
// (timeline.js keeps it), every other page its own nudge stream (<body data-live-stream>). A nudge names a
// region, a key and a version — never HTML. Elements
//   data-live="<region>" data-live-key="<key>" data-live-version="<n>" data-live-url="<fragment url>"
// fetch their own fragment once when a nudge is newer than what they show, and on every (re)connect
// (a nudge lost while away costs one fetch, never a stale screen). If the stream keeps failing, the regions
// are polled every 30 s, and the page says so.
(function () {
  "use strict";

  // Strings through the catalogue (i18n/catalog.js, loaded first); the English text when it is missing.
  const gettext = (window.django && window.django.gettext) || function (s) { return s; };
  const ngettext = (window.django && window.django.ngettext) || function (s, p, n) { return n === 1 ? s : p; };
  const interpolate = (window.django && window.django.interpolate) ||
    function (f, o) { return f.replace(/%\((\w+)\)s/g, function (m, k) { return String(o[k]); }); };

  const POLL_MS = 30000;
  const body = document.body;
  const inflight = new Map(); // "region|key" → true while a fetch runs
  const again = new Set(); // "region|key" nudged again while its fetch ran
  const deferred = new Set(); // "region|key" waiting for the person to finish typing
  let pollTimer = null;
  let failures = 0;
  let source = null;

  // One slot per region element (a statement's page shows it in three: state, versions, editor).
  function id(el) {
    return el.dataset.live + "|" + (el.dataset.liveKey || "") + "|" + el.id;
  }

  function regions(region, key) {
    return Array.from(document.querySelectorAll("[data-live]")).filter(function (el) {
      return (region === undefined || el.dataset.live === region) &&
        (key === undefined || (el.dataset.liveKey || "") === String(key));
    });
  }

  // --- never under someone's fingers ------------------------------------------------------------------------
  function dirty(el) {
    return Array.from(el.querySelectorAll("textarea, input[type=text], input:not([type])")).some(function (t) {
      return t.value !== t.defaultValue;
    });
  }

  function busy(el) {
    const active = document.activeElement;
    if (active && el.contains(active) && active.matches("textarea, input:not([type=hidden]), select")) return true;
    if (el.querySelector("details[data-hold][open], details.role-actions[open]")) return true;
    return dirty(el);
  }

  function notice(el, text, button, extra) {
    let note = el.querySelector(":scope > .live-notice");
    if (!note) {
      note = document.createElement("p");
      note.className = "notice notice-warn live-notice" + (extra ? " " + extra : "");
      note.setAttribute("role", "status");
      note.append(document.createElement("span"));
      if (button) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "linkbutton live-notice-apply";
        b.textContent = button;
        note.append(" ", b);
      }
      // A "changed while you type" notice goes after the content, held at the bottom of the view: put at
      // the top, it pushed down the form the person was about to submit, under their pointer.
      if (extra === "live-stale") el.append(note);
      else el.prepend(note);
    }
    note.firstChild.textContent = text;
  }

  // --- fetching one region ----------------------------------------------------------------------------------
  // `version`: the nudge's, when one asked for this fetch (none: catch-up, polling, the person's click).
  function refresh(el, force, version) {
    const k = id(el);
    if (inflight.get(k)) {
      again.add(k); // coalesce: one request in flight, at most one more after it
      return;
    }
    if (!force && el.hasAttribute("data-live-keep") && dirty(el)) {
      // An editor with unsaved text is never replaced. Its own notice (statements.js, #editor-stale) says
      // which version a colleague saved once the region showing the version has refreshed.
      deferred.add(k);
      if (!el.querySelector("#editor-stale")) notice(el, gettext("A colleague saved a newer version — reload the editor"), gettext("Reload the editor"));
      return;
    }
    if (!force && busy(el)) {
      deferred.add(k);
      notice(el, gettext("Something changed here. It will show when you finish —"), gettext("show it now"), "live-stale");
      return;
    }
    deferred.delete(k);
    const url = el.dataset.liveUrl;
    if (!url || !window.htmx) return;
    if (underPersonal(el)) {
      // The person's own request to this region (or to the panel around it: a decision on a statement card
      // answers with the whole panel) is on its way back, newer than anything we would fetch.
      afterPersonal.set(k, Math.max(afterPersonal.get(k) || 0, version === undefined ? Infinity : version));
      return;
    }
    inflight.set(k, true);
    fetching.add(el);
    if (force) forced.add(el);
    htmx.ajax("GET", url, { source: el, target: el, swap: "outerHTML" }).then(done, done);

    function done() {
      fetching.delete(el);
      inflight.delete(k);
      if (!again.delete(k)) return;
      regions(el.dataset.live, el.dataset.liveKey).forEach(function (e) { if (id(e) === k) refresh(e); });
    }
  }

  // One change often nudges the same region twice within milliseconds (the statement and its deadline, say):
  // wait a moment, then fetch once for all of them (the design's "coalesced per page").
  const COALESCE_MS = 60;
  const waiting = new Map(); // "region|key" → newest version announced while waiting

  // A nudge that carries its region's value (the bell's unread count, sent to its one person) is shown as
  // is: nothing to fetch. Kept only if newer than what the bell shows, like a fetched answer.
  function carried(region, key, version, value) {
    if (region !== "bell" || typeof value !== "number") return false;
    regions(region, key).forEach(function (el) {
      if (version <= parseInt(el.dataset.liveVersion || "0", 10)) return;
      el.dataset.liveVersion = String(version);
      el.classList.toggle("bell-unread", value > 0);
      let count = el.querySelector("[data-bell-count]");
      if (value > 0 && !count) {
        count = document.createElement("span");
        count.className = "bell-count";
        count.setAttribute("data-bell-count", "");
        el.append(count);
      }
      if (count && value > 0) count.textContent = String(value);
      else if (count) count.remove();
      el.setAttribute("aria-label", value > 0
        ? interpolate(ngettext("Notifications, %(count)s unread", "Notifications, %(count)s unread", value), { count: value }, true)
        : gettext("Notifications"));
    });
    return true;
  }

  function nudge(region, key, version, value) {
    if (carried(region, key, version, value)) return;
    const k = region + "|" + key;
    const before = waiting.get(k);
    if (before !== undefined) {
      if (version > before) waiting.set(k, version);
      return;
    }
    waiting.set(k, version);
    window.setTimeout(function () {
      const newest = waiting.get(k);
      waiting.delete(k);
      regions(region, key).forEach(function (el) {
        const shown = parseInt(el.dataset.liveVersion || "0", 10);
        if (newest > shown) refresh(el, false, newest);
      });
      // Regions of other apps on the statement page (its deliveries) listen for this event.
      if (region === "statement" && !document.getElementById("timeline") && window.htmx) {
        htmx.trigger(document.body, "statements-changed");
      }
    }, COALESCE_MS);
  }

  function catchUp() {
    regions().forEach(function (el) {
      // An editor with unsaved text is left alone: if its statement did change, the refreshed state above
      // it says so (#editor-stale), and a false "a colleague saved" would only alarm.
      if (el.hasAttribute("data-live-keep") && dirty(el)) return;
      refresh(el);
    });
  }

  // --- the person's own requests win --------------------------------------------------------------------------
  // A form inside a region (approve, save, change severity) answers with that region, newer than any live
  // fetch: a live answer must not replace the element the person's answer is aimed at.
  const fetching = new WeakSet(); // region elements with a live fetch in flight
  const forced = new WeakSet(); // ...that the person asked for ("show it now", "Reload the editor")
  const personal = new Set(); // region elements a person's request will replace
  const afterPersonal = new Map(); // "slot" → the version a nudge announced meanwhile: check once it is back

  function underPersonal(el) {
    for (const region of personal) if (region === el || region.contains(el)) return true;
    return false;
  }

  const byRequest = new WeakMap(); // a person's request → the region element it replaces

  function replaces(detail) {
    const target = detail.target;
    return target && target.hasAttribute && target.hasAttribute("data-live") && detail.elt !== target ? target : null;
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    const region = replaces(evt.detail);
    if (!region) return;
    personal.add(region);
    byRequest.set(evt.detail.xhr, region);
  });

  document.addEventListener("htmx:beforeSwap", function (evt) {
    const target = evt.detail.target;
    if (!target || !fetching.has(target) || evt.detail.elt !== target) return;
    if (personal.has(target) || !document.body.contains(target)) {
      evt.detail.shouldSwap = false;
    } else if (!forced.has(target) && busy(target)) {
      // The person started typing while we fetched: keep their text, say so, swap when they are done.
      evt.detail.shouldSwap = false;
      deferred.add(id(target));
      notice(target, gettext("Something changed here. It will show when you finish —"), gettext("show it now"), "live-stale");
    }
  });

  document.addEventListener("htmx:afterRequest", function (evt) {
    const region = byRequest.get(evt.detail.xhr);
    if (!region) return;
    byRequest.delete(evt.detail.xhr);
    personal.delete(region);
    // The person's own answer is the newest state of the region: a refresh held back while they typed is
    // settled by it (running it now would only wipe the answer's "You rejected v1" notice).
    if (evt.detail.successful) deferred.delete(id(region));
    window.setTimeout(function () {
      regions().forEach(function (el) {
        const k = id(el);
        if (!afterPersonal.has(k)) return;
        const wanted = afterPersonal.get(k);
        afterPersonal.delete(k);
        // The answer usually shows the change already (it was rendered after its own commit).
        if (wanted > parseInt(el.dataset.liveVersion || "0", 10)) refresh(el);
      });
    }, 50);
  });

  document.addEventListener("focusout", function () {
    window.setTimeout(function () {
      regions().forEach(function (el) {
        if (deferred.has(id(el)) && !busy(el) && !personal.has(el) && !el.hasAttribute("data-live-keep")) {
          refresh(el);
        }
      });
    }, 300);
  });

  document.addEventListener("click", function (evt) {
    const b = evt.target.closest && evt.target.closest(".live-notice-apply");
    if (!b) return;
    const el = b.closest("[data-live]");
    if (el) refresh(el, true);
  });

  // --- fallback polling -------------------------------------------------------------------------------------
  function paused(on) {
    let note = document.getElementById("live-paused");
    if (on && !note) {
      note = document.createElement("p");
      note.id = "live-paused";
      note.className = "live-paused";
      note.setAttribute("role", "status");
      note.textContent = gettext("Live updates paused — retrying");
      body.append(note);
    } else if (!on && note) {
      note.remove();
    }
  }

  function startPolling() {
    paused(true);
    if (pollTimer !== null) return;
    pollTimer = window.setInterval(function () {
      catchUp();
      if (body.dataset.liveStream) reopen(); // every half minute, try the stream again
    }, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer !== null) window.clearInterval(pollTimer);
    pollTimer = null;
    paused(false);
  }

  let connected = false;

  // The stream's first event: whether the page must re-fetch what it shows (it was rendered longer ago than
  // the events process remembers, or the process lost Redis for a while); otherwise the nudges since the
  // page was rendered came just before it.
  function hello(data) {
    connected = true;
    failures = 0;
    body.dataset.liveConnected = "true"; // for people's tools and the tests: this page hears its nudges
    stopPolling();
    let stale = true;
    try { stale = JSON.parse(data).stale !== false; } catch (e) { stale = true; }
    if (stale) catchUp();
  }

  function failed() {
    connected = false;
    delete body.dataset.liveConnected;
    failures += 1;
    if (failures >= 3) startPolling();
  }

  // --- the page's own nudge stream (every page but the room) -----------------------------------------------
  function open(url) {
    if (source) source.close();
    source = new EventSource(url);
    source.addEventListener("hello", function (evt) { hello(evt.data); });
    source.addEventListener("nudge", function (evt) {
      const n = JSON.parse(evt.data);
      nudge(n[0], n[1], n[2], n[3]);
    });
    source.addEventListener("revoked", function () {
      source.close();
      window.location.reload();
    });
    source.onerror = function () {
      failed();
      // A refused or expired pass closes the EventSource for good: ask for a fresh one.
      if (source.readyState === EventSource.CLOSED) {
        if (pollTimer === null) startPolling();
        reopen();
      }
    };
  }

  function reopen() {
    const renew = body.dataset.liveRenew;
    if (!renew) return;
    fetch(renew, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (data) { if (data.url) { body.dataset.liveStream = data.url; open(data.url); } })
      .catch(function () { if (pollTimer === null) startPolling(); });
  }

  if (body.dataset.liveStream) {
    // The first connection says when the page was rendered, so it hears only what changed since.
    const first = new URL(body.dataset.liveStream, window.location.href);
    if (body.dataset.liveSince) first.searchParams.set("since", body.dataset.liveSince);
    open(first.toString());
  }

  // --- the room: its timeline stream carries the nudges ------------------------------------------------------
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    const msg = evt.detail;
    if (msg.type === "hello") {
      evt.preventDefault();
      hello(msg.data);
      return;
    }
    if (msg.type !== "nudge") return;
    evt.preventDefault();
    const n = JSON.parse(msg.data);
    nudge(n[0], n[1], n[2], n[3]);
  });

  document.addEventListener("htmx:sseError", failed);

  // For the benchmark and the curious: whether this page's stream is open.
  window.warroomLive = {
    connected: function () { return connected; },
    state: function () {
      return regions().map(function (el) {
        const k = id(el);
        return k + "@" + el.dataset.liveVersion + (inflight.get(k) ? " inflight" : "") +
          (personal.has(el) ? " personal" : "") + (deferred.has(k) ? " deferred" : "") + (busy(el) ? " busy" : "");
      });
    },
  };
})();
