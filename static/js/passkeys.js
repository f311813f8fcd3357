// Passkeys (WebAuthn) as the second factor: adding one on the security page, signing in's second step and the
// step-up prompt. No inline script (strict CSP): buttons carry their endpoints in data attributes and one
// delegated click listener serves them all, also in a step-up prompt htmx swapped in later.
//
//   data-passkey="register"     data-begin, data-complete; the name from the field named by data-name-field
//   data-passkey="sign-in"      data-begin, data-complete, data-next
//   data-passkey="step-up"      data-begin, data-complete; inside the form the prompt was placed in
//
// The ceremonies: POST begin → options (JSON) → navigator.credentials → POST complete with the credential
// as JSON. The server keeps the challenge in the session and takes it back on complete, so an assertion
// works once.
(function () {
  "use strict";

  const i18n = window.django || {
    gettext: function (s) { return s; },
  };
  const gettext = i18n.gettext;

  // --- base64url <-> ArrayBuffer, for browsers without the JSON helpers of WebAuthn level 3 ---------------
  function toBuffer(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }
  function toText(buffer) {
    const bytes = new Uint8Array(buffer);
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    const o = Object.assign({}, json);
    o.challenge = toBuffer(json.challenge);
    o.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
    o.excludeCredentials = (json.excludeCredentials || []).map(function (c) { return Object.assign({}, c, { id: toBuffer(c.id) }); });
    return o;
  }
  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    const o = Object.assign({}, json);
    o.challenge = toBuffer(json.challenge);
    o.allowCredentials = (json.allowCredentials || []).map(function (c) { return Object.assign({}, c, { id: toBuffer(c.id) }); });
    return o;
  }
  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") return cred.toJSON();
    const r = cred.response;
    const response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) response.userHandle = toText(r.userHandle);
    }
    return {
      id: cred.id, rawId: toText(cred.rawId), type: cred.type, response: response,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults(),
    };
  }

  // --- requests --------------------------------------------------------------------------------------------
  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field) return field.value;
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body || {}),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) throw new Error(data.detail || gettext("The server refused the passkey. Nothing was changed."));
    return data;
  }

  function say(button, text) {
    const scope = button.closest("[data-passkey-scope]") || button.parentElement;
    const status = scope && scope.querySelector("[data-passkey-status]");
    if (status) {
      status.textContent = text;
      status.hidden = !text;
    }
  }

  function failure(error) {
    // The person closed the browser's dialog, or no passkey of theirs is on this device.
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      return gettext("No passkey was used. Try again, or use a code.");
    }
    if (error && error.name === "SecurityError") {
      return gettext("Passkeys work only on a secure address (https, or localhost). Use a code instead.");
    }
    if (error && error.name === "InvalidStateError") return gettext("This device already holds one of your passkeys.");
    return (error && error.message) || gettext("The passkey did not work. Nothing was changed.");
  }

  async function register(button) {
    const field = button.dataset.nameField && document.getElementById(button.dataset.nameField);
    const name = field ? field.value.trim() : "";
    const options = await post(button.dataset.begin);
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    await post(button.dataset.complete + "?name=" + encodeURIComponent(name), credentialJSON(credential));
    window.location.assign(window.location.pathname);  // the list shows it, with the server's message
  }

  async function authenticate(button) {
    const options = await post(button.dataset.begin);
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
    return post(button.dataset.complete, credentialJSON(credential));
  }

  async function signIn(button) {
    await authenticate(button);
    window.location.assign(button.dataset.next || "/");
  }

  async function stepUp(button) {
    const form = button.closest("form");
    await authenticate(button);
    // The session is fresh now: send the same form again without the code field (it would be required).
    const prompt = document.getElementById("step-up-prompt");
    if (prompt) prompt.remove();
    if (form) form.requestSubmit();
  }

  const ACTIONS = { register: register, "sign-in": signIn, "step-up": stepUp };

  document.addEventListener("click", function (event) {
    const button = event.target.closest && event.target.closest("[data-passkey]");
    if (!button) return;
    event.preventDefault();
    if (!window.PublicKeyCredential) {
      say(button, gettext("This browser cannot use passkeys. Use a code instead."));
      return;
    }
    const action = ACTIONS[button.dataset.passkey];
    if (!action || button.disabled) return;
    button.disabled = true;
    say(button, "");
    action(button).catch(function (error) {
      say(button, failure(error));
    }).finally(function () {
      button.disabled = false;
    });
  });

  // Passkey buttons are hidden until the browser is known to support them (no script: codes only).
  function reveal(root) {
    if (!window.PublicKeyCredential) return;
    root.querySelectorAll("[data-passkey-offer]").forEach(function (el) { el.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", function () { reveal(document); });
  document.addEventListener("htmx:afterSettle", function () { reveal(document); });
  document.addEventListener("htmx:oobAfterSwap", function () { reveal(document); });
})();
