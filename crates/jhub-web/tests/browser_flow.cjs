// Drives headless Chromium (playwright-core) through the hub's pages; run by
// tests/browser_login.rs with one JSON argument:
//   {hub, sim, chromium, nodeModules, screenshots}
// Prints one line per passed check; exits non-zero on the first failure.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

const cfg = JSON.parse(process.argv[2]);
const { chromium } = require(path.join(cfg.nodeModules, "playwright-core"));

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

function check(condition, what) {
  if (!condition) throw new Error("check failed: " + what);
  console.log("ok - " + what);
}

async function shot(page, name) {
  const file = path.join(cfg.screenshots, name + ".png");
  await page.screenshot({ path: file, fullPage: true });
  console.log("screenshot " + file);
}

async function noHorizontalScroll(page, what) {
  const m = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, w: window.innerWidth }));
  check(m.sw <= m.w, `${what}: no horizontal scroll (${m.sw} <= ${m.w})`);
}

/** Progress events the stubbed stream sends (the hub's real stream is the REST API's). */
function sse(events, retryMs) {
  return (retryMs ? `retry: ${retryMs}\n\n` : "\n") + events.map((e) => "data: " + JSON.stringify(e) + "\n\n").join("");
}

async function flow(viewport, tag, user, stubProgress) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "jhub-chromium-"));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: cfg.chromium,
    headless: true,
    args: ARGS,
    viewport,
    locale: "en-US",
  });
  const page = context.pages()[0] || (await context.newPage());
  try {
    page.setDefaultTimeout(20000);
    const foreign = [];
    page.on("request", (request) => {
      const url = request.url();
      if (!url.startsWith(cfg.hub) && !url.startsWith(cfg.sim) && !url.startsWith("data:")) foreign.push(url);
    });
    const consoleErrors = [];
    page.on("pageerror", (err) => consoleErrors.push(String(err)));

    // The single-user server does not exist here: stand in for it.
    await context.route(
      (url) => url.pathname.startsWith(`/user/${user}/`),
      (route) =>
        route.fulfill({
          status: 200,
          contentType: "text/html; charset=utf-8",
          body: `<!doctype html><title>JupyterLab</title><h1 id="lab">Fake JupyterLab of ${user}</h1>`,
        })
    );
    // Progress stream stub: phase 1 = in progress (no reconnect), phase 2 = ready.
    let phase = 1;
    const streams = [];
    page.on("request", (request) => {
      if (request.url().includes("/server/progress")) streams.push(request.url());
    });
    if (stubProgress) await context.route("**/server/progress*", (route) => {
      const url = new URL(route.request().url());
      check(url.searchParams.get("_xsrf"), `${tag}: the EventSource URL carries _xsrf`);
      const events = [
        { progress: 0, message: "Server requested" },
        { progress: 30, message: `Pulling image "quay.io/zhonger/gpu-notebook:v3"` },
        { progress: 60, message: "Started container notebook" },
      ];
      if (phase === 2) {
        events.push({ progress: 100, ready: true, message: `Server ready at /user/${user}/`, url: `/user/${user}/` });
      }
      return route.fulfill({
        status: 200,
        headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
        body: sse(events, phase === 1 ? 600000 : 0),
      });
    });

    // 1. The hub sends an anonymous browser to the login page.
    await page.goto(cfg.hub + "/");
    check(new URL(page.url()).pathname === "/hub/login", `${tag}: / lands on /hub/login`);
    const button = page.locator("#oauth-login");
    check((await button.textContent()).trim() === "Sign in with GitLab", `${tag}: GitLab button label`);
    await noHorizontalScroll(page, `${tag} login`);
    await shot(page, `${tag}-01-login`);

    // 2. GitLab (simulated): pick the user.
    await button.click();
    await page.waitForURL((u) => u.toString().startsWith(cfg.sim + "/oauth/authorize"));
    await shot(page, `${tag}-02-gitlab`);
    await page.click(`button[data-user="${user}"]`);

    // 3. Back at the hub, logged in, on the home page.
    await page.waitForURL((u) => u.pathname === "/hub/home");
    check((await page.locator("#home-user").textContent()) === user, `${tag}: home shows ${user}`);
    check((await page.locator(".who").textContent()).includes(user), `${tag}: top bar shows ${user}`);
    await noHorizontalScroll(page, `${tag} home`);
    await shot(page, `${tag}-03-home`);

    // 3b. Named servers: an invalid name is refused on the page; a valid one opens its spawn form.
    await page.fill("#new-server-name", "Bad_Name");
    await page.click("#new-server-btn");
    check(await page.locator("#home-error").isVisible(), `${tag}: invalid server name refused`);
    await page.fill("#new-server-name", "gpu-exp");
    await page.click("#new-server-btn");
    await page.waitForURL((u) => u.pathname === `/hub/spawn/${user}/gpu-exp`);
    check(await page.locator("#spawn_form").isVisible(), `${tag}: new named server goes to its spawn form`);

    // 4. A stopped server's URL: the 424 page with a launch button.
    const notRunning = await page.goto(cfg.hub + `/hub/user/${user}/lab`);
    check(notRunning.status() === 424, `${tag}: stopped server page is 424`);
    check(await page.locator("#start").isVisible(), `${tag}: launch button`);
    await noHorizontalScroll(page, `${tag} not running`);
    await shot(page, `${tag}-04-not-running`);

    // 5. Token page: request a token through the REST API, see it, revoke it.
    await page.goto(cfg.hub + "/hub/token");
    check(await page.locator("#request-token-btn").isVisible(), `${tag}: token request button`);
    await noHorizontalScroll(page, `${tag} token`);
    await shot(page, `${tag}-05-token`);
    await page.fill("#token-note", `laptop of ${user}`);
    await page.selectOption("#token-expiration-seconds", "86400");
    await page.click("#request-token-btn");
    await page.waitForSelector("#token-result:not([hidden])");
    const issued = (await page.locator("#token-value").textContent()).trim();
    check(/^[0-9a-f]{32}$/.test(issued), `${tag}: the page shows the new token once`);
    await shot(page, `${tag}-05b-token-issued`);
    await page.reload();
    check(await page.getByText(`laptop of ${user}`).isVisible(), `${tag}: the new token is listed`);
    await page.click("button[data-action='revoke-token']");
    await page.waitForFunction(() => !document.querySelector("button[data-action='revoke-token']"));
    await page.reload();
    check(await page.getByText("You have no API tokens.").isVisible(), `${tag}: revoked through the REST API`);

    // 6. OAuth consent for a service.
    await page.goto(
      cfg.hub +
        "/hub/api/oauth2/authorize?client_id=service-notebook-viewer&redirect_uri=%2Fservices%2Fnotebook-viewer%2Foauth_callback&response_type=code&state=s1"
    );
    check(await page.locator("#authorize").isVisible(), `${tag}: consent page`);
    await noHorizontalScroll(page, `${tag} consent`);
    await shot(page, `${tag}-06-oauth-consent`);

    // 7. Spawn form with the seed profiles (Chinese names), choose GPU / P100.
    await page.goto(cfg.hub + "/hub/spawn");
    check(await page.getByText("GPU 分区").isVisible(), `${tag}: Chinese profile name shown`);
    check(await page.getByText("包含 Conda、Python 环境（8核16G）").isVisible(), `${tag}: Chinese description shown`);
    check(await page.locator("#profile-item-cpu-fen-qu").isChecked(), `${tag}: default profile pre-selected`);
    await noHorizontalScroll(page, `${tag} spawn form`);
    await shot(page, `${tag}-07-spawn-form`);
    await page.selectOption("#profile-option-gpu-fen-qu--image", "P100x1");
    check(await page.locator("#profile-item-gpu-fen-qu").isChecked(), `${tag}: using a profile's option selects it`);
    await page.click("#start-server");

    // 8. Pending page, fed by the (stubbed) event stream.
    // The hub redirects to /user/<name>/ once ready; Playwright cannot
    // intercept redirected requests and without a proxy the hub would answer
    // them itself, so only that request is checked.
    const toServer = page.waitForRequest((r) => new URL(r.url()).pathname === `/user/${user}/`, { timeout: 30000 });
    await page.waitForURL((u) => u.pathname === `/hub/spawn-pending/${user}`);
    if (stubProgress) {
      await page.waitForFunction(() => document.querySelectorAll("#progress-log li").length >= 3);
      const now = await page.locator("#progress-bar").getAttribute("aria-valuenow");
      check(now === "60", `${tag}: progress bar follows the events (${now})`);
      check(
        (await page.locator("#progress-message").textContent()).includes("Started container"),
        `${tag}: latest message shown`
      );
      await noHorizontalScroll(page, `${tag} pending`);
      await shot(page, `${tag}-08-spawn-pending`);
      // 9. The (stubbed) stream says ready: the page moves on to the server.
      await page.waitForTimeout(4500);
      phase = 2;
      await page.reload();
    } else {
      // 9. The hub's real progress stream (REST API, with ?_xsrf=) drives the page.
      await page.waitForFunction(() => Number(document.querySelector("#progress-bar").getAttribute("aria-valuenow")) >= 50);
      await noHorizontalScroll(page, `${tag} pending`);
      await shot(page, `${tag}-08-spawn-pending`);
    }
    await toServer;
    check(true, `${tag}: landed on the server`);
    check(streams.length > 0 && streams.every((u) => u.includes("_xsrf=")), `${tag}: progress stream opened with _xsrf`);

    // 10. Home with a running server; stop it with the button (REST API DELETE).
    await page.goto(cfg.hub + "/hub/home");
    check(await page.locator("#stop").isVisible(), `${tag}: stop button for the running server`);
    await noHorizontalScroll(page, `${tag} home running`);
    await shot(page, `${tag}-09-home-running`);
    await page.click("#stop");
    await page.waitForSelector("#start", { timeout: 20000 }).catch(async () => {
      await page.reload();
      await page.waitForSelector("#start", { timeout: 20000 });
    });
    check(await page.locator("#start").isVisible(), `${tag}: stop button stopped the server`);

    // 11. An unknown page.
    const missing = await page.goto(cfg.hub + "/hub/does-not-exist");
    check(missing.status() === 404, `${tag}: 404 page`);
    await shot(page, `${tag}-10-404`);

    // 12. Logout.
    await page.goto(cfg.hub + "/hub/home");
    await page.click("#logout");
    await page.waitForURL((u) => u.pathname === "/hub/login");
    check(true, `${tag}: logout returns to the login page`);

    // 13. A user outside the allowed groups sees the 403 page.
    await page.click("#oauth-login");
    await page.waitForURL((u) => u.toString().startsWith(cfg.sim + "/oauth/authorize"));
    await page.click('button[data-user="oscar"]');
    await page.waitForURL((u) => u.pathname === "/hub/oauth_callback");
    const h1 = (await page.locator("h1").textContent()).trim();
    check(
      h1 === "403 : Sorry, you are not currently authorized to use this hub. Please contact the hub administrator.",
      `${tag}: outsider sees the 403 page`
    );
    await noHorizontalScroll(page, `${tag} 403`);
    await shot(page, `${tag}-11-denied`);

    check(foreign.length === 0, `${tag}: no request left the hub and GitLab (${foreign.join(", ")})`);
    check(consoleErrors.length === 0, `${tag}: no script errors (${consoleErrors.join("; ")})`);
  } catch (err) {
    console.error(`failed at ${page.url()}`);
    try {
      console.error((await page.content()).slice(0, 3000));
      await shot(page, `${tag}-failure`);
    } catch (e) {
      /* page gone */
    }
    throw err;
  } finally {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

(async () => {
  fs.mkdirSync(cfg.screenshots, { recursive: true });
  await flow({ width: 1280, height: 860 }, "desktop", "alice", true);
  await flow({ width: 375, height: 812 }, "phone", "carol", false);
  console.log("done");
})().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
