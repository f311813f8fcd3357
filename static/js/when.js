// A time typed into a form, said back in the viewer's own zone (their profile's: body[data-tz]) as they
// type — and, when a time alone has already passed today, the question the server asks too: "18:00 typed
// at 21:19 → tomorrow, 5 Dec, 18:00 CET — is that what you mean?", with the box that confirms it. The words
// come from the page (data-when-* on the hint, translated there). The server decides; this only says it
// first. No inline script, no eval (strict CSP).
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
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  const tz = document.body.dataset.tz || undefined;

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // Now in the viewer's zone: its date, its clock, and the zone's short name.
  function now() {
    const parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, year: "numeric", month: "numeric", day: "numeric",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
    }).formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
    return {
      year: +parts.year, month: +parts.month, day: +parts.day,
      minutes: +parts.hour * 60 + +parts.minute, clock: parts.hour + ":" + parts.minute,
      zone: parts.timeZoneName || "",
    };
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : all;
    });
  }

  function dayLabel(year, month, day) {
    const d = new Date(Date.UTC(year, month - 1, day));
    // English keeps the server's own abbreviations (Intl's en-GB says "Sept"); other languages ask Intl.
    if (LOCALE === "en-GB") return d.getUTCDate() + " " + MONTHS[d.getUTCMonth()];
    return new Intl.DateTimeFormat(LOCALE, { timeZone: "UTC", day: "numeric", month: "short" }).format(d);
  }

  // `edited`: the person changed the time or the day just now. A tick given for the time as it was (theirs,
  // or the page's own when it proposed a time tomorrow) does not carry over to another time: asked again.
  function update(input, edited) {
    const key = input.dataset.when;
    const hint = document.querySelector('[data-when-hint="' + key + '"]');
    const confirm = document.querySelector('[data-when-confirm="' + key + '"]');
    const date = document.querySelector('[data-when-date="' + key + '"]');
    if (!hint) return;
    if (hint.dataset.whenHelp === undefined) hint.dataset.whenHelp = hint.textContent;
    const match = /^(\d{1,2}):(\d{2})/.exec(input.value || "");
    let rolled = false;
    if (!match) {
      hint.textContent = hint.dataset.whenHelp;
    } else {
      const at = now();
      const time = two(+match[1]) + ":" + match[2];
      const typed = +match[1] * 60 + +match[2];
      const values = { typed: input.value, time: time, now: at.clock, zone: at.zone };
      if (date && date.value) {
        const d = date.value.split("-");
        values.day = dayLabel(+d[0], +d[1], +d[2]);
        hint.textContent = fill(hint.dataset.whenDated, values);
      } else if (typed <= at.minutes) {
        rolled = true;
        values.day = dayLabel(at.year, at.month, at.day + 1);
        hint.textContent = fill(hint.dataset.whenRolled, values);
      } else {
        hint.textContent = fill(hint.dataset.whenToday, values);
      }
    }
    hint.classList.toggle("when-rolled", rolled);
    if (confirm) {
      confirm.hidden = !rolled && !confirm.classList.contains("when-asked");
      const box = confirm.querySelector("input[type=checkbox]");
      if (box && (edited || !rolled)) box.checked = false;
    }
  }

  function all(scope) {
    (scope || document).querySelectorAll("input[data-when]").forEach(function (input) { update(input, false); });
  }

  document.addEventListener("input", function (evt) {
    const t = evt.target;
    if (!t || !t.matches) return;
    if (t.matches("input[data-when]")) update(t, true);
    if (t.matches("input[data-when-date]")) {
      const input = document.querySelector('input[data-when="' + t.dataset.whenDate + '"]');
      if (input) update(input, true);
    }
  });
  // Forms swapped in by htmx (the deadlines panel, the statement page's live region) get their hints too.
  document.addEventListener("htmx:afterSettle", function (evt) { all(evt.target); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { all(); });
  else all();
})();
