/* localstripe's stand-in Stripe.js (the local run's Stripe double) declares a global
 * `class Element`, which shadows the DOM's Element for every script on the page, so
 * Bootstrap's `Element.prototype.querySelectorAll.call(...)` breaks (dropdowns,
 * the collapsing menu, dismissible alerts). Lend that class the DOM methods Bootstrap
 * borrows. With the real Stripe.js `Element` is the DOM's and this does nothing.
 */
(function () {
  "use strict";
  /* global Element */
  if (typeof Element !== "function" || Element === window.Element) {
    return;
  }
  ["querySelector", "querySelectorAll", "matches", "closest"].forEach(function (name) {
    if (!(name in Element.prototype)) {
      Element.prototype[name] = window.Element.prototype[name];
    }
  });
})();
