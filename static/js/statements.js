// Statements in the browser: live refresh of the statement regions, the channel-length counter, copying
// the approved text, and never losing what someone is typing. No inline script, no eval (strict CSP).
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

  // --- live refresh -----------------------------------------------------------------------------------------
  // Every statement change writes a timeline entry (data-kind="statement"); when one arrives — on the stream,
  // or from the room's polling fallback — every region marked data-statements-live re-fetches itself
  // (hx-trigger="statements-changed from:body").
  function changed() {
    if (window.htmx) htmx.trigger(document.body, "statements-changed");
  }

  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    const msg = evt.detail;
    const own = evt.target && evt.target.hasAttribute && evt.target.hasAttribute("data-statement-stream");
    if (own) evt.preventDefault(); // the statement page's stream is only a doorbell: nothing to swap in
    if (msg.type === "entry" && typeof msg.data === "string" && msg.data.indexOf('data-kind="statement"') !== -1) {
      changed();
    }
  });

  // The room's polling fallback inserts entries without stream events: watch the timeline itself (its
  // section is never swapped; the list inside it is), for statement entries newer than any seen so far.
  const timeline = document.getElementById("timeline");
  if (timeline && window.MutationObserver) {
    let newest = 0;
    timeline.querySelectorAll(".entry[data-seq]").forEach(function (e) {
      newest = Math.max(newest, parseInt(e.dataset.seq, 10) || 0);
    });
    new MutationObserver(function (records) {
      let statement = false;
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1 || !node.matches(".entry[data-seq]")) return;
          const seq = parseInt(node.dataset.seq, 10) || 0;
          if (seq > newest) {
            newest = seq;
            if (node.dataset.kind === "statement") statement = true;
          }
        });
      });
      if (statement) changed();
    }).observe(timeline, { childList: true, subtree: true });
  }

  // A region must not be replaced under someone's fingers: while they type in it (or hold a "Reject…" or
  // "Withdraw…" box open), its refresh waits, and says so.
  function busy(region) {
    const active = document.activeElement;
    if (active && region.contains(active) && active.matches("textarea, input:not([type=hidden]), select")) return true;
    if (region.querySelector("details[data-hold][open]")) return true;
    return Array.from(region.querySelectorAll("textarea")).some(function (t) {
      return t.value.trim() !== "" && t.value !== t.defaultValue;
    });
  }

  function staleNote(region) {
    let note = region.querySelector(":scope > .live-stale");
    if (!note) {
      note = document.createElement("p");
      note.className = "notice notice-warn live-stale";
      note.setAttribute("role", "status");
      const text = document.createElement("span");
      text.textContent = gettext("Something changed here. It will show when you finish — ");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "linkbutton live-stale-show";
      button.textContent = gettext("show it now");
      note.append(text, button);
      region.append(note); // after the content, so nothing the person is about to click moves (app.css)
    }
  }

  // Submitting sends the version as saved: unsaved edits in the editor would silently not be part of it.
  document.addEventListener("htmx:confirm", function (evt) {
    const form = evt.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-submit-form")) return;
    const editor = document.getElementById("statement-body");
    if (editor && canonical(editor.value) !== canonical(editor.defaultValue)) {
      evt.preventDefault();
      let note = form.querySelector(".inline-error");
      if (!note) {
        note = document.createElement("p");
        note.className = "inline-error";
        note.setAttribute("role", "alert");
        form.append(note);
      }
      note.textContent = gettext("You have unsaved edits below. Save them as a new version first, then submit that version.");
    }
  });

  document.addEventListener("htmx:confirm", function (evt) {
    const region = evt.detail.elt;
    if (!region || !region.hasAttribute || !region.hasAttribute("data-statements-live")) return;
    if (evt.detail.verb !== "get" || region.dataset.forceRefresh) {
      delete region.dataset.forceRefresh;
      return;
    }
    if (busy(region)) {
      evt.preventDefault();
      region.dataset.stale = "1";
      staleNote(region);
    }
  });

  function refreshStale(force) {
    document.querySelectorAll("[data-statements-live][data-stale]").forEach(function (region) {
      if (force || !busy(region)) {
        delete region.dataset.stale;
        region.dataset.forceRefresh = "1";
        htmx.ajax("GET", region.getAttribute("hx-get"), { source: region, target: region, swap: "outerHTML" });
      }
    });
  }

  document.addEventListener("focusout", function () {
    window.setTimeout(function () { refreshStale(false); }, 300);
  });

  document.addEventListener("click", function (evt) {
    const show = evt.target.closest && evt.target.closest(".live-stale-show");
    if (show) refreshStale(true);
  });

  // --- the channel-length counter ---------------------------------------------------------------------------
  // The same canonical form the server stores and hashes: NFC, \n line breaks, no trailing whitespace on a
  // line, trimmed; counted in Unicode code points.
  function canonical(text) {
    return text
      .normalize("NFC")
      .replace(/\r\n?/g, "\n")
      .split("\n")
      .map(function (line) { return line.replace(/\s+$/u, ""); })
      .join("\n")
      .trim();
  }

  function count(textarea) {
    const out = document.getElementById(textarea.dataset.counter);
    if (!out) return;
    const n = Array.from(canonical(textarea.value)).length;
    const limit = parseInt(textarea.dataset.limit || "", 10);
    if (limit) {
      const over = n - limit;
      out.textContent = over > 0
        ? fmt_(gettext("%(n)s / %(limit)s characters — %(over)s too many"), { n: n, limit: limit, over: over })
        : fmt_(gettext("%(n)s / %(limit)s characters"), { n: n, limit: limit });
      out.classList.toggle("counter-over", over > 0);
      out.classList.toggle("counter-near", over <= 0 && n > limit * 0.9);
      textarea.setAttribute("aria-invalid", over > 0 ? "true" : "false");
    } else {
      out.textContent = fmt_(ngettext("%(n)s character", "%(n)s characters", n), { n: n });
      out.classList.remove("counter-over", "counter-near");
      textarea.removeAttribute("aria-invalid");
    }
  }

  function initCounters(scope) {
    scope.querySelectorAll("textarea[data-counter]").forEach(count);
    scope.querySelectorAll("select[data-limit-for]").forEach(followLimit);
  }

  // On the "new statement" form the limit follows the chosen channel.
  function followLimit(select) {
    const textarea = document.getElementById(select.dataset.limitFor);
    if (!textarea) return;
    const option = select.options[select.selectedIndex];
    if (option && option.dataset.limit) textarea.dataset.limit = option.dataset.limit;
    else delete textarea.dataset.limit;
    count(textarea);
  }

  document.addEventListener("input", function (evt) {
    if (evt.target.matches && evt.target.matches("textarea[data-counter]")) count(evt.target);
  });
  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("select[data-limit-for]")) followLimit(evt.target);
  });

  // --- the editor knows when a newer version exists -----------------------------------------------------------
  function checkEditor() {
    const live = document.getElementById("statement-live");
    const form = document.getElementById("editor-form");
    const warn = document.getElementById("editor-stale");
    if (!live || !form || !warn) return;
    const current = parseInt(live.dataset.currentVersion || "0", 10);
    const mine = parseInt((form.querySelector("input[name=version]") || {}).value || "0", 10);
    if (current > mine) {
      // Live updates never replace an editor with unsaved text (live.js): this says what happened instead.
      warn.replaceChildren();
      const text = document.createElement("span");
      text.textContent = fmt_(gettext("%(author)s saved v%(version)s — reload the editor to continue from it. If you save yours, you will see both texts side by side first; nothing is lost."), {
        version: current, author: live.dataset.currentAuthor || gettext("A colleague"),
      });
      const reload = document.createElement("button");
      reload.type = "button";
      reload.className = "linkbutton live-notice-apply";
      reload.textContent = gettext("Reload the editor");
      warn.append(text, " ", reload);
      warn.hidden = false;
    } else {
      warn.hidden = true;
    }
  }

  // --- copy exactly the approved text -------------------------------------------------------------------------
  function copied(button, text, ok) {
    const status = button.parentElement && button.parentElement.querySelector("[data-copy-status]");
    if (status) {
      status.textContent = ok
        ? fmt_(gettext("Copied exactly (%(n)s characters)."), { n: Array.from(text).length })
        : gettext("Copying is blocked here: select the text and copy it by hand.");
    }
  }

  function fallbackCopy(text) {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  document.addEventListener("click", function (evt) {
    const button = evt.target.closest && evt.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { copied(button, text, true); },
        function () { copied(button, text, fallbackCopy(text)); }
      );
    } else {
      copied(button, text, fallbackCopy(text));
    }
  });

  // --- keyboard -------------------------------------------------------------------------------------------
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Enter" || !(evt.ctrlKey || evt.metaKey)) return;
    const form = evt.target.closest && evt.target.closest("#editor-form, .comment-form");
    if (form) {
      evt.preventDefault();
      form.requestSubmit();
    }
  });

  // --- wiring -----------------------------------------------------------------------------------------------
  document.addEventListener("htmx:afterSettle", function (evt) {
    initCounters(evt.target);
    checkEditor();
  });
  initCounters(document);
  checkEditor();
})();
