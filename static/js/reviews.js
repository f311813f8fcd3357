// Reviews: the replay slider (show what was known and said up to a moment) and small review-page helpers.
// Strict CSP: no inline script or style; visibility is toggled with the `hidden` attribute only.
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

  function fmt(ms) {
    var tz = document.body.dataset.tz || undefined;
    try {
      return new Intl.DateTimeFormat(LOCALE, {
        day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
        timeZone: tz, timeZoneName: "short"
      }).format(new Date(ms));
    } catch (e) {
      return new Date(ms).toISOString();
    }
  }

  function apply(root, slider, at) {
    var known = 0, said = 0;
    root.querySelectorAll("#replay-entries .replay-item").forEach(function (li) {
      var show = Number(li.dataset.at) <= at;
      li.hidden = !show;
      if (show) { known += 1; }
    });
    root.querySelectorAll("#replay-public .replay-item").forEach(function (li) {
      var show = Number(li.dataset.at) <= at;
      li.hidden = !show;
      if (show) { said += 1; }
    });
    var kc = document.getElementById("known-count"), pc = document.getElementById("public-count");
    if (kc) { kc.textContent = String(known); }
    if (pc) { pc.textContent = String(said); }
    var none = document.getElementById("public-none");
    if (none) { none.hidden = said > 0; }
    var quiet = document.getElementById("known-none");
    if (quiet) { quiet.hidden = known > 0; }
    var now = document.getElementById("replay-now");
    if (now) {
      now.textContent = fmt_(gettext("At %(time)s: %(entries)s known internally, %(statements)s published."), {
        time: fmt(at),
        entries: fmt_(ngettext("%(n)s timeline entry", "%(n)s timeline entries", known), { n: known }),
        statements: fmt_(ngettext("%(n)s statement", "%(n)s statements", said), { n: said }),
      });
    }
    slider.setAttribute("aria-valuetext", fmt(at));
  }

  function initReplay() {
    var root = document.getElementById("replay");
    var slider = document.getElementById("replay-slider");
    if (!root || !slider) { return; }
    var start = Number(root.dataset.start), end = Number(root.dataset.end);
    var play = document.getElementById("replay-play");
    var timer = null;
    slider.addEventListener("input", function () { apply(document, slider, Number(slider.value)); });
    if (play) {
      play.hidden = false;
      play.addEventListener("click", function () {
        if (timer) {
          clearInterval(timer); timer = null; play.textContent = gettext("Play"); return;
        }
        if (Number(slider.value) >= end) { slider.value = String(start); }
        var step = Math.max(1000, (end - start) / 200);  // about 20 seconds for the whole incident
        play.textContent = gettext("Pause");
        timer = setInterval(function () {
          var next = Math.min(end, Number(slider.value) + step);
          slider.value = String(next);
          apply(document, slider, next);
          if (next >= end) { clearInterval(timer); timer = null; play.textContent = gettext("Play"); }
        }, 100);
      });
    }
    apply(document, slider, Number(slider.value));
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initReplay);
  } else {
    initReplay();
  }
})();
