/* Live countdowns to an order's expires_at.
 *
 * The server renders the seconds left (data-seconds-left); counting from page load,
 * rather than comparing with expires_at, makes a wrong clock on the visitor's
 * computer harmless. At zero the countdown says data-expired-text, and everything
 * marked data-hide-on-expiry in the same data-countdown-scope (the pay form,
 * the cancel button) goes away, everything marked data-show-on-expiry appears, and
 * the badge inside data-status-on-expiry turns to "Expired".
 */
(function () {
  "use strict";

  function format(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function expire(element) {
    var text = element.getAttribute("data-expired-text") || "Expired";
    element.textContent = text;
    element.removeAttribute("role");
    if (element.classList.contains("alert-info")) {
      element.classList.replace("alert-info", "alert-warning");
    }
    var scope = element.closest("[data-countdown-scope]");
    if (!scope) {
      return;
    }
    scope.querySelectorAll("[data-hide-on-expiry]").forEach(function (hidden) {
      hidden.hidden = true;
    });
    scope.querySelectorAll("[data-show-on-expiry]").forEach(function (shown) {
      shown.hidden = false;
    });
    var badge = scope.querySelector("[data-status-on-expiry] .badge");
    if (badge) {
      badge.className = "badge text-bg-secondary";
      badge.setAttribute("data-state", "expired");
      badge.textContent = "Expired";
    }
    var announce = scope.querySelector("[data-countdown-announce]");
    if (announce) {
      announce.textContent = text;
    }
  }

  function start(element) {
    var seconds = parseInt(element.getAttribute("data-seconds-left"), 10) || 0;
    var deadline = Date.now() + seconds * 1000;
    var clock = element.querySelector("[data-countdown-clock]");
    var timer = null;

    function tick() {
      var left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
      if (left > 0) {
        if (clock) {
          clock.textContent = format(left);
        }
        return;
      }
      if (timer !== null) {
        clearInterval(timer);
      }
      expire(element);
    }

    tick();
    if (seconds > 0) {
      timer = setInterval(tick, 250);
    }
  }

  document.querySelectorAll("[data-countdown]").forEach(start);
})();
