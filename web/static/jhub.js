/* jhub pages: small vanilla JS, no dependencies.
 * - home page: stop / delete servers, create named servers (REST API with X-XSRFToken,
 *   like JupyterHub's own JS);
 * - token page: request and revoke tokens (REST API);
 * - spawn form: select a profile when one of its options is used, swap the
 *   "Other" (unlisted choice) free-text field in and out of the submitted form;
 * - spawn-pending page: live progress from the server's event stream;
 * - not-running page: optional automatic launch.
 * Text from the server is always inserted with textContent, never as HTML.
 */
(function (root) {
  "use strict";

  /* ---------- pure helpers (unit-tested under Node) ---------- */

  /** The EventSource URL: the progress URL plus the XSRF token (EventSource cannot send headers). */
  function progressStreamUrl(url, xsrf) {
    if (!xsrf) return url;
    return url + (url.indexOf("?") === -1 ? "?" : "&") + "_xsrf=" + encodeURIComponent(xsrf);
  }

  /**
   * Folds one progress event into the page state.
   * state: {progress, message, log: [string], done: null|"ready"|"failed", url}
   * event: {progress?, message?, ready?, failed?, url?}
   */
  function applyProgressEvent(state, event) {
    var next = {
      progress: state.progress,
      message: state.message,
      log: state.log.slice(),
      done: state.done,
      url: state.url
    };
    if (!event || typeof event !== "object" || state.done) return next;
    if (typeof event.progress === "number" && isFinite(event.progress)) {
      next.progress = Math.max(next.progress, Math.min(100, Math.max(0, Math.round(event.progress))));
    }
    if (typeof event.message === "string" && event.message) {
      next.message = event.message;
      next.log.push(event.message);
    }
    if (event.ready) {
      next.done = "ready";
      next.progress = 100;
      if (typeof event.url === "string") next.url = event.url;
    } else if (event.failed) {
      next.done = "failed";
      next.progress = 100;
    }
    return next;
  }

  /** Named-server names JupyterHub 6 accepts. */
  function validServerName(name) {
    return typeof name === "string" && name.length >= 1 && name.length <= 30 &&
      /^[a-z]([a-z0-9-]*[a-z0-9])?$/.test(name) && name.indexOf("--") === -1;
  }

  var exported = {
    progressStreamUrl: progressStreamUrl,
    applyProgressEvent: applyProgressEvent,
    validServerName: validServerName
  };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = exported;
  }
  if (typeof document === "undefined") return;
  root.jhub = exported;

  /* ---------- browser wiring ---------- */

  var jhdata = root.jhdata || {};

  function $(selector, scope) { return (scope || document).querySelector(selector); }
  function $all(selector, scope) { return Array.prototype.slice.call((scope || document).querySelectorAll(selector)); }

  function showError(box, message) {
    if (!box) { root.alert(message); return; }
    box.textContent = message;
    box.hidden = false;
    box.focus && box.setAttribute("tabindex", "-1");
    box.focus && box.focus();
  }

  /** A REST call with the browser's cookie and the XSRF header. */
  function api(method, url, body) {
    var headers = { "X-XSRFToken": jhdata.xsrf_token || "", "Accept": "application/json" };
    var init = { method: method, credentials: "same-origin", headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      if (response.ok) {
        return response.status === 204 ? null : response.text().then(function (t) { return t ? JSON.parse(t) : null; });
      }
      return response.text().then(function (text) {
        var message = response.status + " " + response.statusText;
        try {
          var parsed = JSON.parse(text);
          if (parsed && parsed.message) message = parsed.message;
        } catch (e) { /* not JSON */ }
        throw new Error(message);
      });
    });
  }

  function busy(button, label) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    if (label) { button.dataset.label = button.textContent; button.textContent = label; }
  }
  function idle(button) {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    if (button.dataset.label) button.textContent = button.dataset.label;
  }

  /* home page */
  function initHome() {
    var errorBox = $("#home-error");
    $all("[data-action='stop'], [data-action='delete']").forEach(function (button) {
      button.addEventListener("click", function () {
        var remove = button.dataset.action === "delete";
        if (button.dataset.confirm && !root.confirm(button.dataset.confirm)) return;
        busy(button, remove ? "Deleting…" : "Stopping…");
        api("DELETE", button.dataset.apiUrl, remove ? { remove: true } : undefined)
          .then(function () { root.location.reload(); })
          .catch(function (err) { idle(button); showError(errorBox, err.message); });
      });
    });
    var form = $("#new-server-form");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var input = $("#new-server-name", form);
        var name = input.value.trim();
        if (!validServerName(name)) {
          input.setAttribute("aria-invalid", "true");
          showError(errorBox, "Invalid server name: use 1–30 lower-case letters, digits and single hyphens, starting with a letter.");
          return;
        }
        input.removeAttribute("aria-invalid");
        root.location.href = form.dataset.spawnUrl + encodeURIComponent(name);
      });
    }
  }

  /* token page */
  function initToken() {
    var errorBox = $("#token-error");
    var form = $("#request-token-form");
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var button = $("#request-token-btn", form);
        var body = {};
        var note = $("#token-note", form).value.trim();
        body.note = note || "Requested via token page";
        var expires = $("#token-expiration-seconds", form).value;
        if (expires) body.expires_in = parseInt(expires, 10);
        var scopes = $("#token-scopes", form).value.trim();
        if (scopes) body.scopes = scopes.split(/\s+/);
        busy(button, "Requesting…");
        api("POST", form.dataset.tokensUrl, body)
          .then(function (reply) {
            idle(button);
            $("#token-value").textContent = reply && reply.token ? reply.token : "";
            $("#token-result").hidden = false;
            $("#copy-token").focus();
          })
          .catch(function (err) { idle(button); showError(errorBox, err.message); });
      });
      var copy = $("#copy-token");
      copy && copy.addEventListener("click", function () {
        var text = $("#token-value").textContent;
        if (navigator.clipboard && text) {
          navigator.clipboard.writeText(text).then(function () { copy.textContent = "Copied"; });
        }
      });
    }
    $all("[data-action='revoke-token']").forEach(function (button) {
      button.addEventListener("click", function () {
        var base = form ? form.dataset.tokensUrl : (jhdata.tokens_url || "");
        busy(button, "Revoking…");
        api("DELETE", base + "/" + encodeURIComponent(button.dataset.tokenId))
          .then(function () {
            var row = button.closest("tr");
            row && row.parentNode.removeChild(row);
          })
          .catch(function (err) { idle(button); showError(errorBox, err.message); });
      });
    });
  }

  /* spawn form (KubeSpawner field names) */
  function initSpawnForm() {
    var list = $("#kubespawner-profiles-list");
    if (!list) return;
    function markChecked() {
      $all(".profile", list).forEach(function (p) {
        var radio = $("input[type='radio']", p);
        p.classList.toggle("is-checked", !!(radio && radio.checked));
      });
    }
    $all(".profile", list).forEach(function (profile) {
      var radio = $("input[type='radio'][name='profile']", profile);
      $all("select, input[type='text']", profile).forEach(function (control) {
        ["focus", "click", "change"].forEach(function (type) {
          control.addEventListener(type, function () {
            if (radio && !radio.checked) { radio.checked = true; markChecked(); }
          });
        });
      });
    });
    $all("input[type='radio'][name='profile']", list).forEach(function (r) { r.addEventListener("change", markChecked); });
    $all(".js-profile-option-select", list).forEach(function (select) {
      var container = select.closest(".js-options-container") && $(".js-other-input-container", select.parentNode);
      var other = container && $(".js-other-input", container);
      function sync() {
        if (!other) return;
        var unlisted = select.value === "unlisted-choice";
        // Only one of the two carries the field name, so the server sees one value.
        if (unlisted) {
          select.removeAttribute("name");
          other.setAttribute("name", other.dataset.name);
          other.required = true;
        } else {
          select.setAttribute("name", select.dataset.name);
          other.removeAttribute("name");
          other.required = false;
        }
        container.hidden = !unlisted;
      }
      select.addEventListener("change", sync);
      sync();
    });
    markChecked();
    initCapacity(list);
  }

  /* Live GPU capacity next to the options that request GPUs: the labels the
   * page was rendered with, refreshed from the hub's in-memory capacity view
   * every 5 s. An option that cannot fit stays selectable (the server waits). */
  function initCapacity(list) {
    var url = list.dataset.capacityUrl;
    if (!url) return;
    function refresh() {
      api("GET", url).then(function (report) {
        if (!report || !report.available) return;
        var labels = {};
        report.options.forEach(function (o) { labels[o.key] = o.label; });
        $all("[data-capacity-key]", list).forEach(function (el) {
          var label = labels[el.dataset.capacityKey];
          if (label === undefined) return;
          el.textContent = el.dataset.label !== undefined ? el.dataset.label + " \u2014 " + label : label;
        });
      }).catch(function () { /* keep the last numbers */ });
    }
    root.setInterval(refresh, 5000);
  }

  /* spawn-pending page */
  function initSpawnPending() {
    var section = $("#spawn-pending");
    if (!section || typeof EventSource === "undefined") return;
    var bar = $("#progress-bar");
    var fill = $("#progress-fill");
    var messageEl = $("#progress-message");
    var log = $("#progress-log");
    var state = { progress: parseInt(bar.getAttribute("aria-valuenow"), 10) || 0, message: "", log: [], done: null, url: null };
    var shown = log.children.length;
    var source = new EventSource(progressStreamUrl(jhdata.progress_url || section.dataset.progressUrl, jhdata.xsrf_token));
    function render(event) {
      var previous = state.log.length;
      state = applyProgressEvent(state, event);
      fill.style.width = state.progress + "%";
      bar.setAttribute("aria-valuenow", String(state.progress));
      if (state.message) messageEl.textContent = state.message;
      // The stream replays the whole log; skip what the page already showed.
      for (var i = previous; i < state.log.length; i++) {
        if (shown > 0) { shown--; continue; }
        var item = document.createElement("li");
        item.textContent = state.log[i];
        log.appendChild(item);
      }
      log.scrollTop = log.scrollHeight;
    }
    source.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      render(event);
      if (state.done === "ready") {
        source.close();
        bar.classList.add("is-ready");
        $("#pending-title").textContent = "Your server is ready.";
        // The pending page redirects a ready server to `next` or the server.
        root.setTimeout(function () { root.location.reload(); }, 300);
      } else if (state.done === "failed") {
        source.close();
        bar.classList.add("is-failed");
        $("#pending-title").textContent = "Spawn failed";
        $("#pending-hint").hidden = true;
        showError($("#progress-failed"), state.message || "Spawn failed");
        $("#progress-actions").hidden = false;
      }
    };
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED && !state.done) {
        // The stream refused or ended early: let the page decide (ready, failed or pending).
        root.setTimeout(function () { root.location.reload(); }, 2000);
      }
    };
  }

  /* not-running page */
  function initNotRunning() {
    var section = $(".not-running");
    if (!section) return;
    var seconds = parseInt(section.dataset.implicitSpawnSeconds, 10) || 0;
    var counter = $("#implicit-spawn-count");
    if (seconds <= 0) return;
    var timer = root.setInterval(function () {
      seconds -= 1;
      if (counter) counter.textContent = String(Math.max(seconds, 0));
      if (seconds <= 0) {
        root.clearInterval(timer);
        root.location.href = section.dataset.spawnUrl;
      }
    }, 1000);
  }

  /* ISO timestamps from the server, shown in the reader's locale and time zone */
  function initTimes() {
    $all("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      el.title = el.getAttribute("datetime");
      el.textContent = when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    });
  }

  function init() {
    initTimes();
    initHome();
    initToken();
    initSpawnForm();
    initSpawnPending();
    initNotRunning();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})(typeof window !== "undefined" ? window : globalThis);
