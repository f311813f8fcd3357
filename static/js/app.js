// War Room client glue. No inline scripts and no eval (strict CSP): behaviour lives here, attached by
// event listeners. htmx does the requests; this file makes failures visible instead of silent.
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

  const MESSAGES = {
    0: gettext("The request didn't reach the server (network problem). Your input is still here — try again."),
    400: gettext("The server couldn't read that request. Your input is still here."),
    403: gettext("You are not allowed to do that, or your session changed in another tab. Nothing was changed — reload the page if this keeps happening."),
    404: gettext("That is no longer available to you. Nothing was changed."),
    405: gettext("That action isn't possible here. Nothing was changed."),
    413: gettext("That upload is too large. Nothing was stored."),
    429: gettext("Too many requests in a short time. Wait a moment and try again."),
    500: gettext("The server hit an error. Nothing you typed was lost — try again in a moment."),
    502: gettext("The war room is restarting. Your input is still here — try again in a few seconds."),
    503: gettext("The war room is temporarily unavailable. Your input is still here — try again in a few seconds."),
  };

  function banner() {
    return document.getElementById("htmx-error");
  }

  function showError(text) {
    const el = banner();
    if (!el) return;
    el.querySelector(".banner-text").textContent = text;
    el.hidden = false;
  }

  function hideError() {
    const el = banner();
    if (el) el.hidden = true;
  }

  document.addEventListener("htmx:responseError", function (evt) {
    const status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    showError(MESSAGES[status] || fmt_(gettext("Something went wrong (HTTP %(status)s). Nothing you typed was lost."), { status: status }));
  });
  // A decisive action without a recent second-factor check answers 403 with a one-field prompt
  // (incidents/accounts/stepup.py): swap it into the form instead of showing the error banner.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    const xhr = evt.detail.xhr;
    if (xhr && xhr.status === 403 && xhr.getResponseHeader("X-Step-Up")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });
  document.addEventListener("htmx:sendError", function () {
    showError(MESSAGES[0]);
  });
  document.addEventListener("htmx:timeout", function () {
    showError(MESSAGES[0]);
  });
  document.addEventListener("htmx:beforeRequest", function (evt) {
    // Background polls must not hide an error the user has not read yet.
    const trigger = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
    if (trigger && trigger.type !== "every") hideError();
  });

  document.addEventListener("click", function (evt) {
    if (evt.target.closest && evt.target.closest(".banner-dismiss")) hideError();
  });

  // Escape closes the user menu, like any other menu.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    document.querySelectorAll("details.usermenu[open]").forEach(function (d) {
      d.open = false;
    });
  });
})();
