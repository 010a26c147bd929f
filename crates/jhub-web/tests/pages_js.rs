//! The page script's pure logic (`web/static/jhub.js`) under Node: how
//! progress events move the spawn-pending page, the EventSource URL, and
//! the named-server name check. Node is required unless
//! `JHUB_SKIP_EXTERNAL=1` (install it with `scripts/install-tools browser`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

fn node() -> Option<PathBuf> {
    let candidate = std::env::var_os("JHUB_NODE").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("node"));
    let ok = Command::new(&candidate).arg("--version").output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    if std::env::var("JHUB_SKIP_EXTERNAL").as_deref() == Ok("1") {
        eprintln!("skipping: node not found and JHUB_SKIP_EXTERNAL=1");
        return None;
    }
    panic!("node not found: run `scripts/install-tools browser` (or set JHUB_SKIP_EXTERNAL=1 to skip)");
}

const SCRIPT: &str = r#"
const assert = require("assert");
const jhub = require(process.argv[2]);
const empty = { progress: 0, message: "", log: [], done: null, url: null };

// Progress only moves forward, clamped to 0..100; messages accumulate.
let s = jhub.applyProgressEvent(empty, { progress: 0, message: "Server requested" });
s = jhub.applyProgressEvent(s, { progress: 40, message: "Pulling image" });
s = jhub.applyProgressEvent(s, { progress: 20, message: "Late event" });
assert.strictEqual(s.progress, 40);
assert.deepStrictEqual(s.log, ["Server requested", "Pulling image", "Late event"]);
assert.strictEqual(s.done, null);
s = jhub.applyProgressEvent(s, { progress: 250 });
assert.strictEqual(s.progress, 100);
assert.strictEqual(empty.log.length, 0, "the input state is not mutated");

// ready ends the stream with the URL; nothing is applied afterwards.
let r = jhub.applyProgressEvent(empty, { progress: 100, ready: true, message: "Server ready at /user/a/", url: "/user/a/" });
assert.strictEqual(r.done, "ready");
assert.strictEqual(r.url, "/user/a/");
r = jhub.applyProgressEvent(r, { progress: 10, message: "after" });
assert.deepStrictEqual(r.log, ["Server ready at /user/a/"]);

// failed keeps the message for the alert.
const f = jhub.applyProgressEvent(empty, { progress: 100, failed: true, message: "Spawn failed: <boom>" });
assert.strictEqual(f.done, "failed");
assert.strictEqual(f.message, "Spawn failed: <boom>");

// Garbage does not throw.
for (const bad of [null, 3, "x", { progress: "50" }, { progress: NaN }]) {
  const g = jhub.applyProgressEvent(empty, bad);
  assert.strictEqual(g.progress, 0);
}

// EventSource URL carries the XSRF token (EventSource cannot send headers).
assert.strictEqual(jhub.progressStreamUrl("/hub/api/users/a/server/progress", "1:ab+c"),
  "/hub/api/users/a/server/progress?_xsrf=1%3Aab%2Bc");
assert.strictEqual(jhub.progressStreamUrl("/p?x=1", "t"), "/p?x=1&_xsrf=t");
assert.strictEqual(jhub.progressStreamUrl("/p", ""), "/p");

// JupyterHub 6 named-server names.
for (const ok of ["a", "gpu-1", "x".repeat(30), "a1b2"]) assert.ok(jhub.validServerName(ok), ok);
for (const bad of ["", "1a", "A", "a--b", "a-", "x".repeat(31), "a_b", "a b", "中文"]) assert.ok(!jhub.validServerName(bad), bad);
console.log("ok");
"#;

#[test]
fn page_script_logic() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.cjs");
    std::fs::write(&script, SCRIPT).unwrap();
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/static/jhub.js").canonicalize().unwrap();
    let out = Command::new(node).arg(&script).arg(&js).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "ok");
}

/// The admin page's pure helpers (`web/static/admin.js`).
const ADMIN_SCRIPT: &str = r#"
const assert = require("assert");
const a = require(process.argv[2]);

// The list query: empty values dropped, flags bare, values encoded.
assert.strictEqual(
  a.buildQuery({ offset: 0, limit: 50, sort: "-last_activity", state: "", name_filter: "a b/c", include_stopped_servers: true }),
  "?offset=0&limit=50&sort=-last_activity&name_filter=a%20b%2Fc&include_stopped_servers");
assert.strictEqual(a.buildQuery({ x: null, y: "" }), "");

// Server state from the REST model.
assert.strictEqual(a.serverStatus(undefined), "stopped");
assert.strictEqual(a.serverStatus({ ready: true, pending: null }), "ready");
assert.strictEqual(a.serverStatus({ ready: false, pending: "spawn" }), "starting");
assert.strictEqual(a.serverStatus({ ready: false, pending: "stop" }), "stopping");
assert.strictEqual(a.serverStatus({ ready: false, pending: null }), "stopped");

// Several users at once: one per line (commas and blanks too), unique.
assert.deepStrictEqual(a.parseUsernames("ann\n bob \n\nann, carl"), ["ann", "bob", "carl"]);
assert.deepStrictEqual(a.parseUsernames(""), []);

// Group properties: JSON where it parses, else text; repeated keys refused.
assert.deepStrictEqual(a.propertiesFromRows([
  { key: "quota", value: "3" }, { key: "gpu", value: "true" }, { key: "note", value: "<b>hi</b>" },
  { key: "obj", value: "{\"a\": [1]}" }, { key: " ", value: "dropped" }, { key: "s", value: "\"quoted\"" }
]), { quota: 3, gpu: true, note: "<b>hi</b>", obj: { a: [1] }, s: "quoted" });
assert.throws(() => a.propertiesFromRows([{ key: "k", value: "1" }, { key: "k", value: "2" }]), /twice/);
assert.strictEqual(a.formatPropertyValue("text"), "text");
assert.strictEqual(a.formatPropertyValue({ a: 1 }), "{\"a\":1}");
assert.strictEqual(a.formatPropertyValue(3), "3");

// Pager text and GPU labels.
assert.strictEqual(a.pageLabel({ offset: 50, limit: 50, total: 120 }, 50), "Showing 51–100 of 120");
assert.strictEqual(a.pageLabel({ offset: 0, limit: 50, total: 0 }, 0), "No users match");
assert.strictEqual(a.gpuLabel({ gpus: [{ resource: "nvidia.com/gpu", count: 2 }], gpu_model: "A100" }), "2 × nvidia.com/gpu (A100)");
assert.strictEqual(a.gpuLabel({ gpus: [] }), "—");
console.log("ok");
"#;

#[test]
fn admin_script_logic() {
    let Some(node) = node() else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check-admin.cjs");
    std::fs::write(&script, ADMIN_SCRIPT).unwrap();
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../web/static/admin.js").canonicalize().unwrap();
    let out = Command::new(node).arg(&script).arg(&js).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "node failed:\n{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "ok");
}
