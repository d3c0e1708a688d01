/* The look-up by ID form (borrowers.html): the token is made here, in the operator's browser
   (borrower_token.js), and only then looked up, by posting the form to the look-up by token.

   What goes to the registry: one blinded element (with the kind of ID and the reason, for the
   audit log), then the token and the reason. Never the ID or the pepper: their fields have no
   name, and are emptied before the form is posted. A proof that does not verify stops
   everything: an error is shown and nothing is looked up. */
(function () {
  "use strict";

  var FIELDS = { id_value: "id-value", pepper: "id-pepper", reason: "id-reason", id_kind: "id-kind" };

  function setUp(form) {
    var crypto = window.RegistryCrypto;
    var errorBox = document.getElementById("lookup-id-error");
    var status = document.getElementById("lookup-id-status");
    var button = form.querySelector('button[type="submit"]');
    var kind = document.getElementById("id-kind");
    var idValue = document.getElementById("id-value");
    var pepper = document.getElementById("id-pepper");
    var reason = document.getElementById("id-reason");
    var busy = false;

    function clearError() {
      errorBox.hidden = true;
      errorBox.textContent = "";
      Object.keys(FIELDS).forEach(function (name) {
        document.getElementById(FIELDS[name]).removeAttribute("aria-invalid");
      });
    }

    function showError(message, field) {
      status.textContent = "";
      errorBox.textContent = message;
      errorBox.hidden = false;
      var input = field && FIELDS[field] ? document.getElementById(FIELDS[field]) : null;
      if (input) {
        input.setAttribute("aria-invalid", "true");
        input.focus();
      }
    }

    if (!window.crypto || !window.crypto.subtle || typeof BigInt !== "function") {
      showError("This browser cannot make tokens here: the look-up by ID needs a current " +
        "browser and a secure (HTTPS) connection to the console.");
      return;
    }
    button.disabled = false;

    // The problem document's words, with the field it names (the registry's refusals).
    function refusal(response, data) {
      var field = null;
      var detail = data && data.detail ? data.detail : "HTTP " + response.status;
      if (data && Array.isArray(data.errors) && data.errors.length) {
        field = data.errors[0].field;
        detail = data.errors.map(function (e) { return e.field + ": " + e.message; }).join("; ");
      }
      return new crypto.borrowerToken.LookupError(field, "The registry refused the evaluation: " +
        detail + ".");
    }

    async function evaluate(blindedHex, keyId) {
      var body = new URLSearchParams();
      body.set("csrf_token", form.elements.csrf_token.value);
      body.set("blinded_element", blindedHex);
      body.set("key_id", keyId);
      body.set("id_kind", kind.value);
      body.set("reason", reason.value);
      var response;
      try {
        response = await fetch(form.getAttribute("data-evaluate-url"), {
          method: "POST",
          body: body,
          credentials: "same-origin",
          redirect: "error",  // a redirect means the session ended: never follow it to a login
          headers: { Accept: "application/json" }
        });
      } catch (error) {
        throw new crypto.borrowerToken.LookupError(null, "The registry could not be reached, " +
          "or your session has ended: reload the page and try again.");
      }
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("json") < 0) {
        throw new crypto.borrowerToken.LookupError(null, "The registry refused the evaluation " +
          "(HTTP " + response.status + "): reload the page and try again.");
      }
      var data = await response.json();
      if (!response.ok) { throw refusal(response, data); }
      return data;
    }

    async function lookUp() {
      clearError();
      if (!reason.value.trim()) {
        showError("Say why you look this person up: the reason goes to the audit log.", "reason");
        return;
      }
      busy = true;
      button.disabled = true;
      status.textContent = "Making the token in this browser…";
      var token;
      try {
        token = await crypto.borrowerToken.computeToken({
          kind: kind.value,
          value: idValue.value,
          pepper: pepper.value,
          keyId: form.getAttribute("data-key-id"),
          publicKey: form.getAttribute("data-public-key"),
          fingerprint: form.getAttribute("data-pepper-fingerprint") || null,
          countries: form.getAttribute("data-countries").split(" "),
          evaluate: evaluate
        });
      } catch (error) {
        if (error instanceof crypto.voprf.VerifyError) {
          showError("The registry's answer does not prove an evaluation under its published key " +
            "(" + error.message + "): no token was made and nothing was looked up.");
        } else if (error instanceof crypto.borrowerToken.LookupError) {
          showError(error.message, error.field);
        } else {
          showError("The token could not be made: " + error.message);
        }
        busy = false;
        button.disabled = false;
        return;
      }
      status.textContent = "Looking up the token…";
      idValue.value = "";
      pepper.value = "";
      form.elements.token.value = token;
      form.submit();  // no submit event: this handler does not run again
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!busy) { lookUp(); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("lookup-id");
    if (form) { setUp(form); }
  });
})();
