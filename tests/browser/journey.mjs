// The seed user's daily journey in headless Chromium, through configurable-http-proxy:
// GitLab login → spawn page with the seed profiles → GPU 分区 / A100 → live progress →
// JupyterLab → a notebook (contents API with the browser's cookies and _xsrf, then run in the
// UI) → stop → start again → the notebook is still there → logout → the server no longer
// serves this browser.
//
// Driven by crates/jhub/tests/e2e_browser.rs (which starts the stack and checks the hub's side),
// or by hand against `scripts/demo`:
//
//   eval "$(scripts/install-tools browser)"
//   JHUB_E2E_URL=http://127.0.0.1:8000 node tests/browser/journey.mjs
//
// Environment: JHUB_E2E_URL (public URL, required), JHUB_E2E_USER (alice), JHUB_E2E_PROFILE
// (GPU 分区), JHUB_E2E_OPTION (A100x1), JHUB_E2E_FILE (e2e-journey.ipynb), JHUB_E2E_SCREENSHOTS
// (artifacts/screenshots/journey), JHUB_E2E_TIMEOUT_MS (per step, 90000), JHUB_E2E_PAUSE_AFTER
// (comma-separated step names: after each, print a `pause` line and wait for a line on stdin, so
// the caller can restart CHP or jhub under the open page), JHUB_CHROMIUM, JHUB_NODE_MODULES.
//
// Output: one JSON object per line, {"step": ..., "ok": true, "ms": ..., ...facts}; the last
// line is {"step": "done", "ok": true} or {"step": <failed step>, "ok": false, "error": ...}
// (exit status 1, with a screenshot named after the failed step).

import { createRequire } from "node:module";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
const env = process.env;

const base = (env.JHUB_E2E_URL || "").replace(/\/+$/, "");
const user = env.JHUB_E2E_USER || "alice";
const profileName = env.JHUB_E2E_PROFILE || "GPU 分区";
const optionKey = env.JHUB_E2E_OPTION || "A100x1";
const fileName = env.JHUB_E2E_FILE || "e2e-journey.ipynb";
const shots = env.JHUB_E2E_SCREENSHOTS || path.join(repo, "artifacts", "screenshots", "journey");
const stepTimeout = Number(env.JHUB_E2E_TIMEOUT_MS || 90000);
const pauseAfter = new Set((env.JHUB_E2E_PAUSE_AFTER || "").split(",").map((s) => s.trim()).filter(Boolean));
const userPrefix = `/user/${encodeURIComponent(user)}/`;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

if (!base) {
  emit({ step: "setup", ok: false, error: "JHUB_E2E_URL is not set (the public URL, e.g. http://127.0.0.1:8000)" });
  process.exit(2);
}
if (!env.JHUB_NODE_MODULES || !env.JHUB_CHROMIUM) {
  emit({ step: "setup", ok: false, error: "JHUB_NODE_MODULES / JHUB_CHROMIUM not set: run eval \"$(scripts/install-tools browser)\"" });
  process.exit(2);
}
const require = createRequire(path.join(env.JHUB_NODE_MODULES, "noop.js"));
let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch (err) {
  emit({ step: "setup", ok: false, error: `playwright-core not found in ${env.JHUB_NODE_MODULES}: run scripts/install-tools browser (${err.code || err.message})` });
  process.exit(2);
}

mkdirSync(shots, { recursive: true });
const profileDir = mkdtempSync(path.join(tmpdir(), "jhub-e2e-chromium-"));

const stdinLines = readline.createInterface({ input: process.stdin });
const pendingLines = [];
const lineWaiters = [];
stdinLines.on("line", (line) => {
  const waiter = lineWaiters.shift();
  if (waiter) waiter(line);
  else pendingLines.push(line);
});
function nextStdinLine() {
  if (pendingLines.length) return Promise.resolve(pendingLines.shift());
  return new Promise((resolve) => lineWaiters.push(resolve));
}

let context;
let page;
let shotIndex = 0;
const started = Date.now();

async function shot(name) {
  shotIndex += 1;
  const file = path.join(shots, `${String(shotIndex).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

async function step(name, body) {
  const t0 = Date.now();
  let facts;
  try {
    facts = await body();
  } catch (err) {
    let screenshot = null;
    try {
      screenshot = await shot(`FAILED-${name}`);
    } catch (_) {
      /* the page may be gone */
    }
    const e = new Error(err && err.message ? err.message : String(err));
    e.step = name;
    e.url = page ? page.url() : null;
    e.screenshot = screenshot;
    throw e;
  }
  emit({ step: name, ok: true, ms: Date.now() - t0, url: page.url(), ...(facts || {}) });
  if (pauseAfter.has(name)) {
    emit({ step: "pause", ok: true, after: name });
    const line = await nextStdinLine();
    if (line.trim() !== "continue") throw Object.assign(new Error(`caller said ${JSON.stringify(line)}`), { step: name });
  }
}

/** Waits until `check` returns a truthy value, tolerating navigations in between. */
async function until(what, check, timeout = stepTimeout, interval = 100) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? ` (last error: ${last.message})` : ""}`);
}

/** The Jupyter contents API, called from the page with its cookies and the server's _xsrf. */
async function contents(method, file, body) {
  return page.evaluate(
    async ({ prefix, method, file, body }) => {
      const cookie = document.cookie.split("; ").find((c) => c.startsWith("_xsrf="));
      const xsrf = cookie ? decodeURIComponent(cookie.slice(6)) : "";
      const init = { method, credentials: "same-origin", redirect: "manual", headers: { "X-XSRFToken": xsrf } };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      const r = await fetch(`${prefix}api/contents/${encodeURIComponent(file)}?content=1`, init);
      const text = await r.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch (_) {
        /* not JSON */
      }
      return { status: r.status, type: r.type, json, hadXsrf: !!xsrf };
    },
    { prefix: userPrefix, method, file, body },
  );
}

async function waitForLab() {
  await page.waitForURL((u) => u.pathname.startsWith(`${userPrefix}lab`), { timeout: stepTimeout });
  await page.locator("#jp-main-dock-panel").waitFor({ state: "visible", timeout: stepTimeout });
  // The launcher or a restored document: the shell has finished its first layout.
  await page.locator(".jp-Launcher, .jp-NotebookPanel").first().waitFor({ state: "visible", timeout: stepTimeout });
}

/** Chooses the profile and option on the spawn form and submits it. */
async function chooseProfileAndStart() {
  const profile = page.locator("#kubespawner-profiles-list .profile", { hasText: profileName });
  await profile.locator("input[type=radio][name=profile]").check();
  const select = profile.locator("select.js-profile-option-select").first();
  await select.selectOption(optionKey);
  // The option's own name: live GPU capacity appends " — N free" to its text.
  const chosen = await select.evaluate((s) => (s.options[s.selectedIndex].dataset.label ?? s.options[s.selectedIndex].textContent).trim());
  return chosen;
}

/** Follows the spawn-pending page until JupyterLab, sampling the progress bar. */
async function followProgress(label) {
  await page.waitForURL((u) => u.pathname.includes("/hub/spawn-pending/"), { timeout: stepTimeout });
  const values = [];
  const messages = new Set();
  let midShot = null;
  let failed = null;
  await until("the server to become ready (redirect to the lab)", async () => {
    if (new URL(page.url()).pathname.startsWith(userPrefix)) return true;
    const sample = await page.evaluate(() => {
      const bar = document.querySelector("#progress-bar");
      const failedBox = document.querySelector("#progress-failed");
      return {
        value: bar ? Number(bar.getAttribute("aria-valuenow")) : null,
        log: Array.from(document.querySelectorAll("#progress-log li")).map((li) => li.textContent.trim()),
        failed: failedBox && !failedBox.hidden ? failedBox.textContent : null,
      };
    });
    if (sample.failed) {
      failed = sample.failed;
      return true;
    }
    if (sample.value !== null && values[values.length - 1] !== sample.value) values.push(sample.value);
    sample.log.forEach((m) => messages.add(m));
    // One screenshot in the middle of the spawn, once several Kubernetes events are listed.
    if (!midShot && sample.value >= 50 && sample.value < 100 && sample.log.length >= 4) {
      midShot = await shot(`${label}-progress`);
    }
    return false;
  }, stepTimeout, 50);
  if (failed) throw new Error(`spawn failed: ${failed}`);
  return { progress: values, events: Array.from(messages), screenshot: midShot };
}

/** Closes JupyterLab dialogs and toasts that would cover the notebook (connection lost, news). */
async function dismissLabPopups() {
  for (const selector of [".jp-Dialog .jp-Dialog-button.jp-mod-accept", ".jp-Dialog .jp-Dialog-button", ".Toastify__toast button:text-is('No')", ".jp-Notification-Toast button:text-is('No')"]) {
    const button = page.locator(selector).first();
    if (await button.isVisible().catch(() => false)) await button.click().catch(() => {});
  }
}

/** The text of the first code cell's output, read without waiting. */
async function firstOutput() {
  return page.evaluate(() => {
    const panel = Array.from(document.querySelectorAll(".jp-NotebookPanel")).find((p) => !p.classList.contains("lm-mod-hidden"));
    const out = panel && panel.querySelector(".jp-CodeCell .jp-OutputArea-output");
    return out ? out.textContent.trim() : "";
  });
}

/** Runs the first code cell (Shift+Enter) until its output contains `expected`. */
async function runFirstCell(expected) {
  const code = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").first();
  const t0 = Date.now();
  for (let attempt = 0; attempt < 4; attempt += 1) {
    await dismissLabPopups();
    await code.locator(".jp-InputArea-editor").click();
    await page.keyboard.press("Shift+Enter");
    const output = await until(`the cell output ${expected}`, async () => {
      const text = await firstOutput();
      return text.includes(expected) ? text : null;
    }, 20000, 100).catch(() => null);
    if (output) return { output, run_ms: Date.now() - t0, attempts: attempt + 1 };
  }
  throw new Error(`the code cell never printed ${expected} (kernel or websocket through the proxy not working)`);
}

async function main() {
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: env.JHUB_CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 860 },
    locale: "zh-CN",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  context.setDefaultTimeout(stepTimeout);
  page = context.pages()[0] || (await context.newPage());
  const consoleErrors = [];
  page.on("pageerror", (err) => consoleErrors.push(String(err)));

  await step("login-page", async () => {
    // The URL the demo prints: / → /hub/ → /hub/login?next=%2Fhub%2F.
    await page.goto(`${base}/`);
    await page.waitForURL((u) => u.pathname === "/hub/login", { timeout: stepTimeout });
    await page.locator("#oauth-login").waitFor();
    const text = (await page.locator("#oauth-login").textContent()).trim();
    return { button: text, screenshot: await shot("login") };
  });

  await step("gitlab-authorize", async () => {
    await page.locator("#oauth-login").click();
    const button = page.locator(`button[data-user="${user}"]`);
    await button.waitFor();
    const gitlab = new URL(page.url()).origin;
    const screenshot = await shot("gitlab-authorize");
    await button.click();
    return { gitlab, screenshot };
  });

  await step("spawn-form", async () => {
    await page.waitForURL((u) => /\/hub\/(spawn|home)/.test(u.pathname), { timeout: stepTimeout });
    if (new URL(page.url()).pathname.startsWith("/hub/home")) {
      await page.locator("#start").click();
    }
    await page.locator("#kubespawner-profiles-list").waitFor();
    const profiles = await page.$$eval("#kubespawner-profiles-list .profile", (nodes) =>
      nodes.map((p) => ({
        slug: p.dataset.profile,
        name: p.querySelector(".profile-name")?.textContent.trim(),
        description: p.querySelector(".profile-desc")?.textContent.trim() || null,
        checked: p.querySelector("input[type=radio]")?.checked || false,
        options: Array.from(p.querySelectorAll(".option")).map((o) => ({
          label: o.querySelector("label")?.textContent.trim(),
          field: o.querySelector("select")?.dataset.name,
          choices: Array.from(o.querySelectorAll("select option")).map((c) => ({
            key: c.value,
            name: (c.dataset.label ?? c.textContent).trim(),
            // Live GPU capacity: the whole text ("A100 x1 — 2 free") when the hub shows it.
            capacity: c.dataset.capacityKey ? c.textContent.trim() : null,
          })),
        })),
      })),
    );
    const heading = (await page.locator("h1").first().textContent()).trim();
    return { heading, profiles, screenshot: await shot("spawn-form") };
  });

  // JHUB_E2E_CAPACITY_EXPECT="A100x1=1 free": the caller changed the cluster meanwhile (after
  // a pause after spawn-form); the open page's labels must follow without a reload.
  if (env.JHUB_E2E_CAPACITY_EXPECT) {
    const [key, expected] = env.JHUB_E2E_CAPACITY_EXPECT.split("=");
    await step("capacity-live", async () => {
      const option = page.locator(`#kubespawner-profiles-list option[value="${key}"][data-capacity-key]`).first();
      let text = "";
      await until(`the ${key} option to say "${expected}"`, async () => {
        text = (await option.textContent()).trim();
        return text.endsWith(expected);
      });
      return { key, text, screenshot: await shot("spawn-form-capacity-live") };
    });
  }

  await step("choose-profile", async () => {
    const chosen = await chooseProfileAndStart();
    const screenshot = await shot("profile-chosen");
    await page.locator("#start-server").click();
    return { profile: profileName, option: optionKey, chosen, screenshot };
  });

  await step("progress", async () => followProgress("first-start"));

  await step("lab", async () => {
    await waitForLab();
    await page.waitForTimeout(1500);
    await dismissLabPopups();
    return { title: await page.title(), screenshot: await shot("lab") };
  });

  await step("create-notebook", async () => {
    const notebook = {
      type: "notebook",
      format: "json",
      content: {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: "python3", display_name: "Python 3 (ipykernel)", language: "python" } },
        cells: [
          { cell_type: "markdown", id: "e2e-md", metadata: {}, source: "# jhub e2e 旅程\nWritten through the proxy." },
          { cell_type: "code", id: "e2e-code", metadata: {}, execution_count: null, outputs: [], source: "print(6 * 7)" },
        ],
      },
    };
    const put = await contents("PUT", fileName, notebook);
    if (put.status !== 201 && put.status !== 200) throw new Error(`PUT contents answered ${put.status} (xsrf cookie: ${put.hadXsrf})`);
    const get = await contents("GET", fileName);
    if (get.status !== 200) throw new Error(`GET contents answered ${get.status}`);
    return { put: put.status, get: get.status, path: get.json && get.json.path };
  });

  async function runNotebook(label) {
    await page.goto(`${base}${userPrefix}lab/tree/${encodeURIComponent(fileName)}`);
    await waitForLab();
    await page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").first().waitFor({ state: "visible" });
    // The kernel started through the proxy (websocket): the status bar says Idle.
    await until("the kernel to be idle", async () => page.evaluate(() => /\|\s*Idle\b/.test(document.body.innerText)), stepTimeout, 200);
    const run = await runFirstCell("42");
    return { ...run, screenshot: await shot(label) };
  }

  await step("run-notebook", async () => runNotebook("notebook-run"));

  await step("lab-still-works", async () => {
    // After a possible pause (the caller restarted CHP and jhub under this page): the open
    // lab keeps working — the contents API and the kernel's websocket, both through the proxy.
    await dismissLabPopups();
    const get = await until("the contents API through the proxy", async () => {
      const r = await contents("GET", fileName);
      return r.status === 200 ? r : null;
    }, 20000, 200);
    const code = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").first();
    await code.locator(".jp-InputArea-editor").click();
    await page.keyboard.press("Control+A");
    await page.keyboard.type("print(7 * 6 + 1)");
    const run = await runFirstCell("43");
    return { get: get.status, ...run, screenshot: await shot("lab-still-works") };
  });

  await step("back-to-server", async () => {
    // The hub's front door sends a logged-in user with a running server straight back to it.
    await page.goto(`${base}/`);
    await waitForLab();
    return { screenshot: await shot("back-to-server") };
  });

  await step("stop-server", async () => {
    await page.goto(`${base}/hub/home`);
    await page.locator("#stop").click();
    await until("the home page to offer Start again", async () => {
      if (await page.locator("#start").isVisible().catch(() => false)) return true;
      // A slow stop shows "stopping"; reload until it is done.
      if (await page.locator(".badge-stopping").isVisible().catch(() => false)) await page.reload();
      return false;
    }, stepTimeout, 250);
    return { screenshot: await shot("stopped") };
  });

  await step("not-running", async () => {
    const response = await page.goto(`${base}${userPrefix}lab`);
    await page.locator("#not-running-title").waitFor();
    const startHref = await page.locator("#start").getAttribute("href");
    return { status: response.status(), heading: (await page.locator("#not-running-title").textContent()).trim(), start: startHref, screenshot: await shot("not-running") };
  });

  await step("start-again", async () => {
    await page.locator("#start").click();
    await page.locator("#kubespawner-profiles-list").waitFor();
    const chosen = await chooseProfileAndStart();
    await page.locator("#start-server").click();
    const progress = await followProgress("second-start");
    await waitForLab();
    return { chosen, ...progress, screenshot: await shot("lab-again") };
  });

  await step("file-persisted", async () => {
    const get = await contents("GET", fileName);
    if (get.status !== 200) throw new Error(`the notebook is gone after the restart: GET answered ${get.status}`);
    const sources = ((get.json && get.json.content && get.json.content.cells) || []).map((c) => c.source);
    const run = await runNotebook("notebook-after-restart");
    return { get: get.status, sources, output: run.output, screenshot: run.screenshot };
  });

  await step("logout", async () => {
    await page.goto(`${base}/hub/home`);
    await page.locator("#logout").click();
    await page.waitForURL((u) => u.pathname.startsWith("/hub/logout") || u.pathname.startsWith("/hub/login"), { timeout: stepTimeout });
    await page.waitForLoadState("load");
    return { screenshot: await shot("logged-out") };
  });

  await step("server-refuses-browser", async () => {
    // The API with the single-user server's own cookie (still in the browser): must not serve.
    await page.goto(`${base}/hub/login`);
    const api = await page.evaluate(async (url) => {
      const r = await fetch(url, { credentials: "same-origin", redirect: "manual" });
      return { status: r.status, type: r.type };
    }, `${base}${userPrefix}api/contents/${encodeURIComponent(fileName)}`);
    // The lab page: must end on the hub's login page, not in JupyterLab.
    await page.goto(`${base}${userPrefix}lab`);
    await page.waitForLoadState("load");
    await page.waitForTimeout(500);
    const landed = new URL(page.url());
    const inLab = landed.pathname.startsWith(`${userPrefix}lab`) && (await page.locator("#jp-main-dock-panel").count()) > 0;
    if (api.status === 200) throw new Error("the single-user server still serves the contents API to the logged-out browser");
    if (inLab) throw new Error("JupyterLab still loads for the logged-out browser");
    return { api, landed: landed.pathname + landed.search, screenshot: await shot("after-logout") };
  });

  emit({ step: "done", ok: true, ms: Date.now() - started, page_errors: consoleErrors.slice(0, 10) });
}

let status = 0;
try {
  await main();
} catch (err) {
  emit({ step: err.step || "unknown", ok: false, error: err.message, url: err.url || null, screenshot: err.screenshot || null });
  status = 1;
} finally {
  stdinLines.close();
  if (context) await context.close().catch(() => {});
  rmSync(profileDir, { recursive: true, force: true });
}
process.exit(status);
