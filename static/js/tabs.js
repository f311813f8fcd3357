// The room on a phone: under 480 px its panels become tabs (ARIA tabs pattern: arrow keys, Home/End), each
// tab with the panel's count and a dot when something changed in it while it was hidden (a live swap of the
// panel, a new timeline entry). Above 480 px nothing changes: the tablist is hidden and every panel shown.
// The panels are swapped whole by htmx and live.js, so their tab roles are put back after every swap.
(function () {
  "use strict";

  const PHONE = window.matchMedia("(max-width: 480px)");

  function start() {
    const list = document.querySelector("[data-room-tabs]");
    const grid = document.querySelector(".room-grid");
    if (!list || !grid) return;
    const tabs = Array.prototype.slice.call(list.querySelectorAll("[role=tab]"));
    let current = tabs[0].getAttribute("aria-controls");
    // Panels that load themselves right after the page: their first swap is the load, not news.
    const loading = {};
    tabs.forEach(function (tab) {
      const panel = document.getElementById(tab.getAttribute("aria-controls"));
      if (panel && /\bload\b/.test(panel.getAttribute("hx-trigger") || "")) loading[panel.id] = true;
    });
    let unseenEntries = 0;

    function panelOf(tab) { return document.getElementById(tab.getAttribute("aria-controls")); }
    function tabFor(id) { return tabs.find(function (t) { return t.getAttribute("aria-controls") === id; }); }

    function count(tab) {
      const panel = panelOf(tab);
      const out = tab.querySelector("[data-tab-count]");
      if (!panel || !out) return;
      if (panel.id === "timeline") {
        out.textContent = unseenEntries ? String(unseenEntries) : "";
        return;
      }
      const c = panel.querySelector(".region-head .count");
      out.textContent = c ? c.textContent.trim() : "";
    }

    function mark(tab, on) {
      const dot = tab.querySelector("[data-tab-dot]");
      if (!dot) return;
      dot.hidden = !on;
    }

    // Roles and visibility for the current width and tab; run again after every swap of a panel.
    function apply() {
      const phone = PHONE.matches;
      list.hidden = !phone;
      grid.classList.toggle("room-tabbed", phone);
      tabs.forEach(function (tab) {
        const panel = panelOf(tab);
        const selected = tab.getAttribute("aria-controls") === current;
        tab.setAttribute("aria-selected", selected ? "true" : "false");
        tab.tabIndex = selected ? 0 : -1;
        count(tab);
        if (!panel) return;
        if (phone) {
          panel.setAttribute("role", "tabpanel");
          panel.setAttribute("aria-labelledby", tab.id);
          panel.classList.toggle("tab-hidden", !selected);
        } else {
          panel.removeAttribute("role");
          panel.setAttribute("aria-labelledby", panel.dataset.heading || panel.getAttribute("aria-labelledby"));
          panel.classList.remove("tab-hidden");
        }
      });
    }
    tabs.forEach(function (tab) {
      const panel = panelOf(tab);
      if (panel) panel.dataset.heading = panel.getAttribute("aria-labelledby");
    });

    function select(tab, focus) {
      current = tab.getAttribute("aria-controls");
      if (current === "timeline") unseenEntries = 0;
      mark(tab, false);
      apply();
      if (focus) tab.focus();
      // The tabs sit at the top of the room, above its header: bring the chosen panel up to them.
      const panel = panelOf(tab);
      if (panel && PHONE.matches && panel.getBoundingClientRect().top > list.getBoundingClientRect().bottom + 8) {
        panel.scrollIntoView({ block: "start" });
      }
    }

    list.addEventListener("click", function (e) {
      const tab = e.target.closest("[role=tab]");
      if (tab) select(tab, false);
    });
    list.addEventListener("keydown", function (e) {
      const i = tabs.indexOf(document.activeElement);
      if (i < 0) return;
      let next = null;
      if (e.key === "ArrowRight") next = tabs[(i + 1) % tabs.length];
      else if (e.key === "ArrowLeft") next = tabs[(i - 1 + tabs.length) % tabs.length];
      else if (e.key === "Home") next = tabs[0];
      else if (e.key === "End") next = tabs[tabs.length - 1];
      if (!next) return;
      e.preventDefault();
      select(next, true);
    });
    // A skip link (or any link) to a panel on a phone opens its tab.
    document.addEventListener("click", function (e) {
      const a = e.target.closest && e.target.closest("a[href^='#']");
      const tab = a && tabFor(a.getAttribute("href").slice(1));
      if (tab && PHONE.matches) select(tab, false);
    });

    function changed(panelId, entries) {
      const tab = tabFor(panelId);
      if (!tab) return;
      if (loading[panelId]) { delete loading[panelId]; apply(); return; }
      if (PHONE.matches && panelId !== current) {
        if (panelId === "timeline") unseenEntries += entries;
        mark(tab, true);
      }
      apply();
    }

    // Whole panels replaced (htmx swaps, live.js) and new timeline entries (SSE, polling, the composer).
    new MutationObserver(function (records) {
      const seen = {};
      records.forEach(function (r) {
        if (r.target === grid) {
          Array.prototype.forEach.call(r.addedNodes, function (n) { if (n.id && tabFor(n.id)) seen[n.id] = (seen[n.id] || 0); });
        } else if (r.target.id === "timeline-entries") {
          const added = Array.prototype.filter.call(r.addedNodes, function (n) { return n.nodeType === 1; }).length;
          if (added) seen.timeline = (seen.timeline || 0) + added;
        } else if (r.target.nodeType === 1) {
          // Inside a panel: elements added or removed (text rewritten by countdowns is not news).
          const elements = Array.prototype.some.call(r.addedNodes, function (n) { return n.nodeType === 1; });
          const panel = r.target.closest(".region");
          if (elements && panel && panel.id !== "timeline" && tabFor(panel.id)) seen[panel.id] = seen[panel.id] || 0;
        }
      });
      Object.keys(seen).forEach(function (id) { changed(id, seen[id]); });
    }).observe(grid, { childList: true, subtree: true });

    // htmx puts back the old element's class for its settle transition after the swap: apply again then.
    document.body.addEventListener("htmx:afterSettle", apply);
    PHONE.addEventListener("change", apply);
    apply();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
