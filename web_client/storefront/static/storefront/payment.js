/* The pay form: Stripe.js turns the card into a token in the browser, and only the
 * token (tok_...) is posted to us, so card numbers never touch our servers.
 * Works with the real Stripe.js and with localstripe's stand-in alike.
 */
(function () {
  "use strict";

  /* 3-D Secure: the card asked the buyer to authenticate. Stripe.js shows the bank's step
   * with the PaymentIntent's client secret; then we ask the server to settle the payment. */
  var authenticate = document.getElementById("authenticate-form");
  if (authenticate && typeof window.Stripe === "function") {
    var secret = authenticate.getAttribute("data-client-secret");
    var stripeForAction = window.Stripe(authenticate.getAttribute("data-stripe-key"));
    var next = stripeForAction.handleNextAction
      ? stripeForAction.handleNextAction({ clientSecret: secret })
      : stripeForAction.confirmCardPayment(secret);
    next.then(function () {
      authenticate.submit(); /* the server asks Stripe how it went, success or not */
    }, function () {
      authenticate.submit();
    });
  }

  var form = document.getElementById("payment-form");
  if (!form) {
    return;
  }
  var errors = document.getElementById("card-errors");
  var container = document.getElementById("card-element");
  var button = form.querySelector("button[type=submit]");

  function showError(message) {
    errors.textContent = message;
    container.classList.toggle("is-invalid", Boolean(message));
  }

  function setBusy(busy) {
    button.disabled = busy;
    button.textContent = busy ? "Paying…" : button.getAttribute("data-label");
  }

  if (typeof window.Stripe !== "function") {
    showError("Card payments are not available right now. Please reload the page to try again.");
    button.disabled = true;
    return;
  }

  var stripe = window.Stripe(form.getAttribute("data-stripe-key"));
  var card = stripe.elements().create("card");
  card.mount(container);
  card.on("change", function (event) {
    showError(event && event.error ? event.error.message : "");
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    setBusy(true);
    showError("");
    stripe.createToken(card).then(function (result) {
      if (result.error || !result.token) {
        var message = result.error && result.error.message;
        showError(message || "Your card details could not be used. Please check them and try again.");
        setBusy(false);
        return;
      }
      form.elements.token.value = result.token.id;
      form.submit();
    }, function () {
      showError("Stripe could not be reached. Please try again.");
      setBusy(false);
    });
  });
})();
