/* jhub admin page: plain JS over the hub's REST API, no dependencies.
 * Every read and change is a REST call with the browser's cookie and the
 * X-XSRFToken header (as JupyterHub 5's admin), so the API's scope checks
 * decide; `jhdata.may` only hides buttons the viewer could not use.
 * Text from the server is always inserted with textContent, never as HTML.
 */
(function (root) {
  "use strict";

  /* ---------- pure helpers (unit-tested under Node) ---------- */

  /** `?a=1&b=2` from an object, skipping empty values; `true` is a bare flag. */
  function buildQuery(params) {
    var parts = [];
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      if (value === undefined || value === null || value === "" || value === false) return;
      parts.push(value === true ? encodeURIComponent(key) : encodeURIComponent(key) + "=" + encodeURIComponent(String(value)));
    });
    return parts.length ? "?" + parts.join("&") : "";
  }

  /** A server model's state: "ready", "starting", "stopping" or "stopped". */
  function serverStatus(server) {
    if (!server) return "stopped";
    if (server.ready) return "ready";
    if (server.pending === "spawn") return "starting";
    if (server.pending === "stop") return "stopping";
    if (server.pending) return "starting";
    return "stopped";
  }

  /** User names from the add-users box: one per line (commas and spaces too), trimmed, unique. */
  function parseUsernames(text) {
    var seen = {};
    return String(text || "").split(/[\n,\s]+/).map(function (s) { return s.trim(); }).filter(function (s) {
      if (!s || seen[s]) return false;
      seen[s] = true;
      return true;
    });
  }

  /** A property value as typed: JSON when it parses, else the text itself. */
  function parsePropertyValue(text) {
    var trimmed = String(text).trim();
    if (trimmed === "") return "";
    try { return JSON.parse(trimmed); } catch (e) { return String(text); }
  }

  /** The text to show for a property value (strings bare, the rest as JSON). */
  function formatPropertyValue(value) {
    return typeof value === "string" ? value : JSON.stringify(value);
  }

  /** Properties from [{key, value}] rows; blank keys are dropped, a repeated key is an error. */
  function propertiesFromRows(rows) {
    var out = {};
    for (var i = 0; i < rows.length; i++) {
      var key = String(rows[i].key || "").trim();
      if (!key) continue;
      if (Object.prototype.hasOwnProperty.call(out, key)) throw new Error("Property " + key + " appears twice");
      out[key] = parsePropertyValue(rows[i].value);
    }
    return out;
  }

  /** "Showing 51–100 of 120" from a `_pagination` block. */
  function pageLabel(pagination, shown) {
    if (!pagination || !pagination.total) return "No users match";
    var first = pagination.offset + 1;
    var last = pagination.offset + shown;
    return "Showing " + first + "–" + last + " of " + pagination.total;
  }

  /** GPUs as "2 × nvidia.com/gpu (A100)" from a details answer. */
  function gpuLabel(details) {
    if (!details || !details.gpus || !details.gpus.length) return "—";
    var text = details.gpus.map(function (g) { return g.count + " × " + g.resource; }).join(", ");
    return details.gpu_model ? text + " (" + details.gpu_model + ")" : text;
  }

  var exported = {
    buildQuery: buildQuery,
    serverStatus: serverStatus,
    parseUsernames: parseUsernames,
    parsePropertyValue: parsePropertyValue,
    formatPropertyValue: formatPropertyValue,
    propertiesFromRows: propertiesFromRows,
    pageLabel: pageLabel,
    gpuLabel: gpuLabel
  };
  if (typeof module !== "undefined" && module.exports) module.exports = exported;
  if (typeof document === "undefined") return;
  root.jhubAdmin = exported;

  /* ---------- browser wiring ---------- */

  var jhdata = root.jhdata || {};
  var may = jhdata.may || {};
  var API = jhdata.api_url || "/hub/api";
  var HUB = jhdata.base_url || "/hub/";

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "className") node.className = attrs[k];
      else if (k === "dataset") Object.keys(attrs[k]).forEach(function (d) { node.dataset[d] = attrs[k][d]; });
      else node.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function userPath(name) { return API + "/users/" + encodeURIComponent(name); }
  function serverPath(user, server) {
    return server ? userPath(user) + "/servers/" + encodeURIComponent(server) : userPath(user) + "/server";
  }
  function detailsPath(user, server) {
    var base = API + "/jhub/users/" + encodeURIComponent(user);
    return server ? base + "/servers/" + encodeURIComponent(server) + "/details" : base + "/server/details";
  }
  function storagePath(user, rest) { return API + "/jhub/users/" + encodeURIComponent(user) + "/storage" + (rest || ""); }

  /** A REST call with the cookie and the XSRF header; resolves to parsed JSON (or null). */
  function api(method, url, body, paginated) {
    var headers = {
      "X-XSRFToken": jhdata.xsrf_token || "",
      "Accept": paginated ? "application/jupyterhub-pagination+json" : "application/json"
    };
    var init = { method: method, credentials: "same-origin", headers: headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      if (response.ok) {
        return response.text().then(function (t) { return t ? JSON.parse(t) : null; });
      }
      return response.text().then(function (text) {
        var message = response.status + " " + response.statusText;
        try {
          var parsed = JSON.parse(text);
          if (parsed && parsed.message) message = parsed.message;
        } catch (e) { /* not JSON */ }
        var err = new Error(message);
        err.status = response.status;
        throw err;
      });
    });
  }

  var errorBox = $("admin-error");
  var statusBox = $("admin-status");
  function showError(err) {
    errorBox.textContent = err && err.message ? err.message : String(err);
    errorBox.hidden = false;
    statusBox.hidden = true;
    errorBox.focus();
  }
  function showStatus(text) {
    errorBox.hidden = true;
    statusBox.textContent = text;
    statusBox.hidden = false;
  }

  function badge(status) {
    var labels = { ready: "Ready", starting: "Starting…", stopping: "Stopping…", stopped: "Stopped" };
    var cls = status === "ready" ? "running" : status;
    return el("span", { className: "badge badge-" + cls }, labels[status] || status);
  }
  function timeCell(iso) {
    if (!iso) return document.createTextNode("—");
    var when = new Date(iso);
    var t = el("time", { datetime: iso, title: iso }, isNaN(when.getTime()) ? iso
      : when.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    return t;
  }
  function button(label, cls, onClick, attrs) {
    var b = el("button", Object.assign({ type: "button", className: "btn btn-sm " + (cls || "") }, attrs || {}), label);
    b.addEventListener("click", function () { onClick(b); });
    return b;
  }
  function link(label, href, cls, attrs) {
    return el("a", Object.assign({ className: "btn btn-sm " + (cls || ""), href: href }, attrs || {}), label);
  }
  /** Runs a change with the button busy; errors go to the alert. */
  function act(b, promise, done) {
    if (b) { b.disabled = true; b.setAttribute("aria-busy", "true"); }
    return promise.then(function (value) {
      if (b) { b.disabled = false; b.removeAttribute("aria-busy"); }
      if (done) done(value);
      return value;
    }).catch(function (err) {
      if (b) { b.disabled = false; b.removeAttribute("aria-busy"); }
      showError(err);
    });
  }

  /* hide what the viewer cannot use */
  Array.prototype.forEach.call(document.querySelectorAll("[data-needs]"), function (node) {
    if (!may[node.dataset.needs]) node.hidden = true;
  });

  /* ---------- tabs (arrow keys move between them) ---------- */
  var tabs = [$("tab-users"), $("tab-groups")];
  function selectTab(tab) {
    tabs.forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
    });
    // Leaving a panel closes its detail view; a refresh still on its way must not reopen it.
    if (tab !== tabs[0]) { $("user-detail").hidden = true; current.user = null; }
    if (tab !== tabs[1]) $("group-detail").hidden = true;
    if (tab === tabs[1]) loadGroups();
  }
  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { selectTab(tab); });
    tab.addEventListener("keydown", function (e) {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        var next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        next.focus();
        selectTab(next);
        e.preventDefault();
      }
    });
  });

  /* ---------- users list ---------- */
  var list = { offset: 0, limit: 50, sort: "name", state: "", filter: "", total: 0 };
  var limitSelect = $("user-limit");
  if (jhdata.page_limit) {
    var wanted = String(jhdata.page_limit);
    Array.prototype.forEach.call(limitSelect.options, function (o) { o.selected = o.value === wanted; });
  }
  list.limit = parseInt(limitSelect.value, 10) || 50;
  var listSeq = 0;

  function loadUsers() {
    var seq = ++listSeq;
    var url = API + "/users" + buildQuery({
      offset: list.offset, limit: list.limit, sort: list.sort, state: list.state,
      name_filter: list.filter, include_stopped_servers: true
    });
    return api("GET", url, undefined, true).then(function (reply) {
      if (seq !== listSeq) return; // a newer search is on its way
      var items = (reply && reply.items) || [];
      var pagination = (reply && reply._pagination) || { offset: list.offset, limit: list.limit, total: items.length };
      list.total = pagination.total;
      renderUsers(items);
      $("page-info").textContent = pageLabel(pagination, items.length);
      $("page-prev").disabled = list.offset <= 0;
      $("page-next").disabled = !pagination.next;
    }).catch(showError);
  }

  function renderUsers(users) {
    var body = $("users-body");
    clear(body);
    if (!users.length) {
      var empty = el("tr");
      empty.appendChild(el("td", { colspan: "6", className: "muted" }, "No users match."));
      body.appendChild(empty);
      return;
    }
    users.forEach(function (user) {
      var servers = user.servers || {};
      var main = servers[""];
      var status = serverStatus(main);
      var named = Object.keys(servers).filter(function (n) { return n && serverStatus(servers[n]) !== "stopped"; });
      var row = el("tr", { dataset: { user: user.name } });
      var nameCell = el("th", { scope: "row", "data-label": "User" });
      nameCell.appendChild(button(user.name, "btn-link user-open", function () { openUser(user.name); },
        { "aria-label": "Manage " + user.name }));
      row.appendChild(nameCell);
      row.appendChild(el("td", { "data-label": "Admin" }, user.admin ? "admin" : "—"));
      var serverCell = el("td", { "data-label": "Server" });
      serverCell.appendChild(badge(status));
      if (named.length) serverCell.appendChild(el("span", { className: "muted small" }, " +" + named.length + " named"));
      row.appendChild(serverCell);
      var options = main && main.user_options;
      row.appendChild(el("td", { "data-label": "Profile" }, (options && options.profile) || "—"));
      var activity = el("td", { "data-label": "Last activity" });
      activity.appendChild(timeCell(user.last_activity));
      row.appendChild(activity);
      var actions = el("td", { className: "row-actions" });
      serverActions(actions, user.name, "", main, loadUsers);
      row.appendChild(actions);
      body.appendChild(row);
    });
  }

  /** Start / stop / spawn page / access buttons for one server. */
  function serverActions(cell, user, server, model, after) {
    var status = serverStatus(model);
    var label = server ? user + "/" + server : user;
    if (status === "stopped" && may.start_servers) {
      cell.appendChild(button("Start", "btn-primary", function (b) {
        act(b, api("POST", serverPath(user, server)), function () {
          showStatus("Starting " + label + "…");
          after();
          watchUntilSettled(user, server, after);
        });
      }, { "data-action": "start", "aria-label": "Start server of " + label }));
      cell.appendChild(link("Spawn page", HUB + "spawn/" + encodeURIComponent(user) + (server ? "/" + encodeURIComponent(server) : ""), "",
        { "data-action": "spawn-page", "aria-label": "Spawn page for " + label }));
    }
    if ((status === "ready" || status === "starting") && may.stop_servers) {
      cell.appendChild(button("Stop", "btn-danger", function (b) {
        act(b, api("DELETE", serverPath(user, server)), function () {
          showStatus("Stopping " + label + "…");
          after();
          watchUntilSettled(user, server, after);
        });
      }, { "data-action": "stop", "aria-label": "Stop server of " + label }));
    }
    if (status === "ready" && may.access_servers && model && model.url) {
      cell.appendChild(link("Access server", model.url, "", { "data-action": "access", "aria-label": "Open server of " + label }));
    }
  }

  /** Refreshes while a server is starting or stopping (up to two minutes). */
  function watchUntilSettled(user, server, refresh) {
    var tries = 0;
    function poll() {
      tries += 1;
      api("GET", serverPath(user, server)).then(function (model) {
        var status = serverStatus(model);
        if ((status === "starting" || status === "stopping") && tries < 120) {
          root.setTimeout(poll, 1000);
        } else {
          showStatus((server ? user + "/" + server : user) + ": " + (status === "ready" ? "ready" : status));
          refresh();
          if (current.user === user) openUser(user, true);
        }
      }).catch(function (err) {
        if (err.status === 404) { refresh(); if (current.user === user) openUser(user, true); return; }
        showError(err);
      });
    }
    root.setTimeout(poll, 500);
  }

  var filterTimer = null;
  $("user-filter").addEventListener("input", function () {
    root.clearTimeout(filterTimer);
    filterTimer = root.setTimeout(function () {
      list.filter = $("user-filter").value.trim();
      list.offset = 0;
      loadUsers();
    }, 250);
  });
  $("user-search").addEventListener("submit", function (e) {
    e.preventDefault();
    list.filter = $("user-filter").value.trim();
    list.offset = 0;
    loadUsers();
  });
  $("user-sort").addEventListener("change", function () { list.sort = this.value; list.offset = 0; loadUsers(); });
  $("user-state").addEventListener("change", function () { list.state = this.value; list.offset = 0; loadUsers(); });
  limitSelect.addEventListener("change", function () { list.limit = parseInt(this.value, 10) || 50; list.offset = 0; loadUsers(); });
  $("page-prev").addEventListener("click", function () { list.offset = Math.max(0, list.offset - list.limit); loadUsers(); });
  $("page-next").addEventListener("click", function () { list.offset += list.limit; loadUsers(); });

  /* ---------- add users ---------- */
  var addForm = $("add-users-form");
  $("add-users-open").addEventListener("click", function () {
    addForm.hidden = !addForm.hidden;
    this.setAttribute("aria-expanded", addForm.hidden ? "false" : "true");
    if (!addForm.hidden) $("add-usernames").focus();
  });
  $("add-users-cancel").addEventListener("click", function () {
    addForm.hidden = true;
    $("add-users-open").setAttribute("aria-expanded", "false");
    $("add-users-open").focus();
  });
  addForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var names = parseUsernames($("add-usernames").value);
    if (!names.length) { showError(new Error("Enter at least one user name.")); return; }
    act($("add-users-submit"), api("POST", API + "/users", { usernames: names, admin: $("add-admin").checked }), function (created) {
      showStatus("Added " + ((created || []).map(function (u) { return u.name; }).join(", ") || "nobody"));
      $("add-usernames").value = "";
      $("add-admin").checked = false;
      addForm.hidden = true;
      $("add-users-open").setAttribute("aria-expanded", "false");
      loadUsers();
    });
  });

  /* ---------- one user ---------- */
  var current = { user: null };
  var detail = $("user-detail");

  function openUser(name, keepFocus) {
    current.user = name;
    return api("GET", userPath(name) + "?include_stopped_servers").then(function (user) {
      if (current.user !== name) return;
      $("detail-title").textContent = "User " + user.name;
      $("edit-name").value = user.name;
      $("edit-admin").checked = !!user.admin;
      $("edit-admin").disabled = !may.admin_users;
      $("edit-name").readOnly = !may.admin_users;
      renderServers(user);
      $("server-details").hidden = true;
      detail.hidden = false;
      loadStorage(user.name);
      if (!keepFocus) detail.focus();
    }).catch(function (err) {
      if (err.status === 404) { detail.hidden = true; current.user = null; loadUsers(); return; }
      showError(err);
    });
  }

  function renderServers(user) {
    var body = $("servers-body");
    clear(body);
    var servers = user.servers || {};
    var names = Object.keys(servers).sort();
    if (names.indexOf("") === -1) names.unshift("");
    names.forEach(function (server) {
      var model = servers[server];
      var row = el("tr", { dataset: { server: server } });
      row.appendChild(el("th", { scope: "row", "data-label": "Server" }, server || "(default)"));
      var statusCell = el("td", { "data-label": "Status" });
      statusCell.appendChild(badge(serverStatus(model)));
      row.appendChild(statusCell);
      var profile = el("td", { "data-label": "Profile" }, (model && model.user_options && model.user_options.profile) || "—");
      var gpus = el("td", { "data-label": "GPUs" }, "—");
      var node = el("td", { "data-label": "Node" }, "—");
      row.appendChild(profile);
      row.appendChild(gpus);
      row.appendChild(node);
      var activity = el("td", { "data-label": "Last activity" });
      activity.appendChild(timeCell(model && model.last_activity));
      row.appendChild(activity);
      var actions = el("td", { className: "row-actions" });
      serverActions(actions, user.name, server, model, loadUsers);
      if (model && may.read_servers) {
        actions.appendChild(button("Details", "", function () { showServerDetails(user.name, server); },
          { "data-action": "details", "aria-label": "Details of server " + (server || "(default)") }));
        api("GET", detailsPath(user.name, server)).then(function (d) {
          if (d.profile) profile.textContent = d.profile;
          gpus.textContent = gpuLabel(d);
          node.textContent = d.node || "—";
        }).catch(function () { /* details are an extra; the row stands without them */ });
      }
      if (server && may.stop_servers && serverStatus(model) === "stopped") {
        actions.appendChild(button("Delete", "btn-danger", function (b) {
          if (!root.confirm("Delete server " + user.name + "/" + server + "?")) return;
          act(b, api("DELETE", serverPath(user.name, server), { remove: true }), function () { openUser(user.name, true); loadUsers(); });
        }, { "data-action": "delete-server" }));
      }
      row.appendChild(actions);
      body.appendChild(row);
    });
  }

  function showServerDetails(user, server) {
    api("GET", detailsPath(user, server)).then(function (d) {
      var stats = $("server-details-stats");
      clear(stats);
      function stat(label, value) {
        var box = el("div");
        box.appendChild(el("dt", {}, label));
        box.appendChild(el("dd", {}, value === undefined || value === null || value === "" ? "—" : value));
        stats.appendChild(box);
      }
      stat("Server", server || "(default)");
      stat("Status", d.status);
      stat("Profile", d.profile);
      stat("GPUs", gpuLabel(d));
      stat("Node", d.node);
      stat("CPU", d.cpu ? d.cpu + " cores" : "");
      stat("Memory", d.mem_bytes ? (d.mem_bytes / 1073741824).toFixed(1) + " GiB" : "");
      if (d.last_failure) stat("Last failure", d.last_failure.message);
      var progress = $("server-progress");
      clear(progress);
      ((d.progress && d.progress.events) || []).forEach(function (e) {
        progress.appendChild(el("li", {}, (typeof e.progress === "number" ? e.progress + "% " : "") + e.message));
      });
      if (!progress.children.length) progress.appendChild(el("li", { className: "muted" }, "No spawn since the hub started."));
      var events = $("server-events");
      clear(events);
      (d.events || []).forEach(function (e) {
        var item = el("li");
        item.appendChild(timeCell(e.at));
        item.appendChild(document.createTextNode(" " + e.kind + (e.reason ? " (" + e.reason + ")" : "") + (e.node ? " on " + e.node : "")));
        events.appendChild(item);
      });
      if (!events.children.length) events.appendChild(el("li", { className: "muted" }, "No events."));
      $("server-details").hidden = false;
      $("server-details-title").focus && $("server-details-title").setAttribute("tabindex", "-1");
      $("server-details-title").focus();
    }).catch(showError);
  }

  $("detail-close").addEventListener("click", function () {
    detail.hidden = true;
    var opener = null;
    Array.prototype.forEach.call(document.querySelectorAll("#users-body tr"), function (row) {
      if (row.dataset.user === current.user) opener = row.querySelector(".user-open");
    });
    current.user = null;
    (opener || $("user-filter")).focus();
  });

  $("edit-user-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = current.user;
    if (!name) return;
    var newName = $("edit-name").value.trim();
    var change = { admin: $("edit-admin").checked };
    if (newName && newName !== name) change.name = newName;
    act($("edit-save"), api("PATCH", userPath(name), change), function (user) {
      showStatus("Saved " + user.name);
      openUser(user.name, true);
      loadUsers();
    });
  });

  $("delete-user").addEventListener("click", function () {
    var name = current.user;
    if (!name || !root.confirm("Delete user " + name + "? Their servers are stopped.")) return;
    act(this, api("DELETE", userPath(name)), function () {
      showStatus("Deleted " + name);
      detail.hidden = true;
      current.user = null;
      loadUsers();
      $("user-filter").focus();
    });
  });

  var namedForm = $("new-named-form");
  if (namedForm) {
    namedForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var server = $("new-named-name").value.trim();
      var user = current.user;
      if (!server || !user) return;
      act($("new-named-start"), api("POST", serverPath(user, server)), function () {
        $("new-named-name").value = "";
        showStatus("Starting " + user + "/" + server + "…");
        openUser(user, true);
        watchUntilSettled(user, server, loadUsers);
      });
    });
  }

  /* ---------- storage (jhub's /hub/api/jhub/users/{name}/storage) ----------
   * Kept apart on purpose: the endpoints come from the storage work; a 404
   * (no storage feature, or no volume) hides the section quietly. */
  function loadStorage(user) {
    var section = $("user-storage");
    section.hidden = true;
    api("GET", storagePath(user)).then(function (s) {
      if (current.user !== user || !s) return;
      var stats = $("storage-stats");
      clear(stats);
      [["Volume", s.pvc], ["Capacity", s.capacity], ["Requested", s.requested],
        ["Used", typeof s.used_bytes === "number" ? (s.used_bytes / 1073741824).toFixed(2) + " GiB" : "unknown"],
        ["Storage class", s.storage_class], ["Resize pending", s.resize_pending ? "yes" : "no"]].forEach(function (pair) {
        var box = el("div");
        box.appendChild(el("dt", {}, pair[0]));
        box.appendChild(el("dd", {}, pair[1] === undefined || pair[1] === null ? "—" : pair[1]));
        stats.appendChild(box);
      });
      $("storage-resize").disabled = !s.expandable;
      // A cluster without the snapshot CRDs (or a class) cannot take one: say so by disabling.
      $("storage-snapshot").disabled = s.snapshots_supported === false;
      var select = $("storage-snapshots");
      clear(select);
      (s.snapshots || []).forEach(function (snap) {
        var name = typeof snap === "string" ? snap : snap.name;
        var when = typeof snap === "object" && snap.created ? " (" + snap.created + ")" : "";
        select.appendChild(el("option", { value: name }, name + when));
      });
      $("storage-restore").disabled = !select.options.length;
      section.hidden = false;
    }).catch(function (err) {
      if (err.status !== 404) showError(err);
    });
  }
  $("storage-resize").addEventListener("click", function () {
    var user = current.user;
    var capacity = $("storage-capacity").value.trim();
    if (!user || !capacity) { showError(new Error("Enter the new capacity, e.g. 20Gi.")); return; }
    act(this, api("POST", storagePath(user, "/resize"), { capacity: capacity }), function () {
      showStatus("Resize of " + user + "'s volume to " + capacity + " requested");
      loadStorage(user);
    });
  });
  $("storage-snapshot").addEventListener("click", function () {
    var user = current.user;
    if (!user) return;
    act(this, api("POST", storagePath(user, "/snapshots")), function () {
      showStatus("Snapshot of " + user + "'s volume requested");
      loadStorage(user);
    });
  });
  $("storage-restore").addEventListener("click", function () {
    var user = current.user;
    var snapshot = $("storage-snapshots").value;
    if (!user || !snapshot || !root.confirm("Restore " + user + "'s volume from " + snapshot + "?")) return;
    act(this, api("POST", storagePath(user, "/restore"), { snapshot: snapshot }), function () {
      showStatus("Restore of " + user + "'s volume from " + snapshot + " requested");
      loadStorage(user);
    });
  });

  /* ---------- groups ---------- */
  var groups = { offset: 0, limit: 50 };
  var currentGroup = null;

  function loadGroups() {
    if (!may.list_groups) { $("groups-info").textContent = "You may not list groups."; return Promise.resolve(); }
    var url = API + "/groups" + buildQuery({ offset: groups.offset, limit: groups.limit });
    return api("GET", url, undefined, true).then(function (reply) {
      var items = (reply && reply.items) || [];
      var pagination = (reply && reply._pagination) || { offset: 0, total: items.length };
      var body = $("groups-body");
      clear(body);
      if (!items.length) {
        var empty = el("tr");
        empty.appendChild(el("td", { colspan: "3", className: "muted" }, "No groups yet."));
        body.appendChild(empty);
      }
      items.forEach(function (group) {
        var row = el("tr", { dataset: { group: group.name } });
        var cell = el("th", { scope: "row", "data-label": "Group" });
        cell.appendChild(button(group.name, "btn-link group-open", function () { openGroup(group.name); },
          { "aria-label": "Manage group " + group.name }));
        row.appendChild(cell);
        row.appendChild(el("td", { "data-label": "Members" }, (group.users || []).length));
        var actions = el("td", { className: "row-actions" });
        row.appendChild(actions);
        body.appendChild(row);
      });
      $("groups-info").textContent = pagination.total
        ? "Showing " + (pagination.offset + 1) + "–" + (pagination.offset + items.length) + " of " + pagination.total
        : "";
      $("groups-prev").disabled = groups.offset <= 0;
      $("groups-next").disabled = !pagination.next;
    }).catch(showError);
  }
  $("groups-prev").addEventListener("click", function () { groups.offset = Math.max(0, groups.offset - groups.limit); loadGroups(); });
  $("groups-next").addEventListener("click", function () { groups.offset += groups.limit; loadGroups(); });

  $("new-group-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = $("new-group-name").value.trim();
    if (!name) return;
    act($("create-group"), api("POST", API + "/groups/" + encodeURIComponent(name)), function () {
      $("new-group-name").value = "";
      showStatus("Created group " + name);
      loadGroups().then(function () { openGroup(name); });
    });
  });

  function propertyRow(key, value) {
    var row = el("div", { className: "prop-row" });
    var index = document.querySelectorAll("#group-properties .prop-row").length;
    var keyId = "prop-key-" + index;
    var valueId = "prop-value-" + index;
    var k = el("div", { className: "field" });
    k.appendChild(el("label", { "for": keyId }, "Key"));
    var keyInput = el("input", { id: keyId, type: "text", className: "prop-key", autocomplete: "off", spellcheck: "false" });
    keyInput.value = key;
    k.appendChild(keyInput);
    var v = el("div", { className: "field" });
    v.appendChild(el("label", { "for": valueId }, "Value"));
    var valueInput = el("input", { id: valueId, type: "text", className: "prop-value", autocomplete: "off", spellcheck: "false" });
    valueInput.value = value;
    v.appendChild(valueInput);
    row.appendChild(k);
    row.appendChild(v);
    row.appendChild(button("Remove", "btn-danger", function () { row.parentNode.removeChild(row); },
      { "aria-label": "Remove property " + (key || "(new)") }));
    return row;
  }

  function openGroup(name) {
    currentGroup = name;
    return api("GET", API + "/groups/" + encodeURIComponent(name)).then(function (group) {
      $("group-title").textContent = "Group " + group.name;
      var members = $("group-members");
      clear(members);
      (group.users || []).slice().sort().forEach(function (member) {
        var item = el("li", { dataset: { member: member } });
        item.appendChild(el("span", {}, member));
        if (may.groups) {
          item.appendChild(button("Remove", "btn-danger", function (b) {
            act(b, api("DELETE", API + "/groups/" + encodeURIComponent(name) + "/users", { users: [member] }), function () {
              showStatus("Removed " + member + " from " + name);
              openGroup(name);
              loadGroups();
            });
          }, { "aria-label": "Remove " + member + " from " + name }));
        }
        members.appendChild(item);
      });
      if (!members.children.length) members.appendChild(el("li", { className: "muted" }, "No members."));
      var props = $("group-properties");
      clear(props);
      var properties = group.properties || {};
      Object.keys(properties).sort().forEach(function (key) {
        props.appendChild(propertyRow(key, formatPropertyValue(properties[key])));
      });
      $("group-detail").hidden = false;
      $("group-detail").focus();
    }).catch(showError);
  }
  $("group-close").addEventListener("click", function () { $("group-detail").hidden = true; currentGroup = null; $("new-group-name").focus(); });
  $("add-property").addEventListener("click", function () {
    var row = propertyRow("", "");
    $("group-properties").appendChild(row);
    row.querySelector(".prop-key").focus();
  });
  $("save-properties").addEventListener("click", function () {
    var name = currentGroup;
    if (!name) return;
    var rows = Array.prototype.map.call(document.querySelectorAll("#group-properties .prop-row"), function (row) {
      return { key: row.querySelector(".prop-key").value, value: row.querySelector(".prop-value").value };
    });
    var properties;
    try { properties = propertiesFromRows(rows); } catch (err) { showError(err); return; }
    act(this, api("PUT", API + "/groups/" + encodeURIComponent(name) + "/properties", properties), function () {
      showStatus("Saved properties of " + name);
      openGroup(name);
    });
  });
  $("add-member-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var name = currentGroup;
    var member = $("add-member-name").value.trim();
    if (!name || !member) return;
    act($("add-member"), api("POST", API + "/groups/" + encodeURIComponent(name) + "/users", { users: [member] }), function () {
      $("add-member-name").value = "";
      showStatus("Added " + member + " to " + name);
      openGroup(name);
      loadGroups();
    });
  });
  $("delete-group").addEventListener("click", function () {
    var name = currentGroup;
    if (!name || !root.confirm("Delete group " + name + "?")) return;
    act(this, api("DELETE", API + "/groups/" + encodeURIComponent(name)), function () {
      showStatus("Deleted group " + name);
      $("group-detail").hidden = true;
      currentGroup = null;
      loadGroups();
      $("new-group-name").focus();
    });
  });

  $("user-sort").value = list.sort;
  loadUsers();
})(typeof window !== "undefined" ? window : globalThis);
