// Reviews: the replay slider (show what was known and said up to a moment) and small review-page helpers.
// Strict CSP: no inline script or style; visibility is toggled with the `hidden` attribute only.
(function () {
  "use strict";

  function fmt(ms) {
    var tz = document.body.dataset.tz || undefined;
    try {
      return new Intl.DateTimeFormat("en-GB", {
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
      now.textContent = "At " + fmt(at) + ": " + known + " timeline entr" + (known === 1 ? "y" : "ies") +
        " known internally, " + said + " statement" + (said === 1 ? "" : "s") + " published.";
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
          clearInterval(timer); timer = null; play.textContent = "Play"; return;
        }
        if (Number(slider.value) >= end) { slider.value = String(start); }
        var step = Math.max(1000, (end - start) / 200);  // about 20 seconds for the whole incident
        play.textContent = "Pause";
        timer = setInterval(function () {
          var next = Math.min(end, Number(slider.value) + step);
          slider.value = String(next);
          apply(document, slider, next);
          if (next >= end) { clearInterval(timer); timer = null; play.textContent = "Play"; }
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
