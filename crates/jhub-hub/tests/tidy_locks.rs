//! Tidy check for the lock rule in ARCHITECTURE.md: a write lock
//! (`user_gate`, `structure_gate`) is never held across a spawner, proxy or
//! other network call, nor across a call that takes a lock itself (the locks
//! are not re-entrant). Reads `crates/jhub-hub/src` and follows each guard
//! from its `let` to the end of its block or its `drop(..)`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// Calls that reach the network (other than the store write a lock
/// protects) or take a write lock themselves.
const FORBIDDEN: &[&str] = &[
    "proxy_add_route",
    "proxy_delete_route",
    "proxy_get_all_routes",
    "proxy.",
    "spawner.",
    "spawner()",
    "timed_poll",
    "wait_for_http",
    "reqwest",
    "self.stop(",
    "self.spawn(",
    "self.clear_server(",
    "self.clear_until_done(",
    "self.create_user(",
    "self.create_users(",
    "self.create_group_named(",
    "self.add_group_members(",
    "self.remove_group_members(",
    "self.rotate_cookie_id(",
    "self.fail_spawn(",
    "user_gate(",
    "structure_gate(",
];

fn braces(line: &str) -> i64 {
    let mut depth = 0;
    let mut in_str = false;
    let mut prev = ' ';
    for c in line.chars() {
        match c {
            '"' if prev != '\\' => in_str = !in_str,
            '{' if !in_str => depth += 1,
            '}' if !in_str => depth -= 1,
            _ => {}
        }
        prev = c;
    }
    depth
}

/// `(line number, guard line, offending line)` for every violation in `source`.
fn violations(source: &str) -> Vec<(usize, String, String)> {
    let lines: Vec<&str> = source.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") || !code.starts_with("let ") {
            continue;
        }
        if !(code.contains("user_gate(") || code.contains("structure_gate(")) {
            continue;
        }
        let name = code.trim_start_matches("let ").split([' ', ':', '=']).next().unwrap_or("").to_string();
        let mut depth = 0i64;
        for (j, later) in lines.iter().enumerate().skip(i + 1) {
            let text = later.trim_start();
            if text.starts_with("//") {
                continue;
            }
            if text.starts_with(&format!("drop({name})")) {
                break;
            }
            for call in FORBIDDEN {
                if text.contains(call) {
                    found.push((j + 1, line.trim().to_string(), text.to_string()));
                }
            }
            depth += braces(later);
            if depth < 0 {
                break;
            }
            if text.contains(&format!("drop({name})")) {
                break;
            }
        }
    }
    found
}

#[test]
fn no_write_lock_is_held_across_network_calls() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut guards = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        guards += source.matches("_gate(").count();
        for (line, guard, call) in violations(&source) {
            problems.push(format!("{}:{line}: `{call}` while holding `{guard}`", path.display()));
        }
    }
    assert!(guards > 10, "the check found only {guards} lock sites; did the lock API change?");
    assert!(problems.is_empty(), "locks held across calls:\n{}", problems.join("\n"));
}

#[test]
fn the_check_catches_a_proxy_call_under_a_lock() {
    let bad = r#"
    async fn f(&self) {
        let _gate = self.user_gate(user).await;
        if x {
            self.proxy_add_route(&prefix, &target, data).await;
        }
    }
    "#;
    assert_eq!(violations(bad).len(), 1);
    let fine = r#"
    async fn f(&self) {
        {
            let _gate = self.user_gate(user).await;
            self.inner.store.save_server(&row).await?;
        }
        self.proxy_add_route(&prefix, &target, data).await;
        let gate = self.user_gate(user).await;
        drop(gate);
        self.spawner.stop().await;
    }
    "#;
    assert_eq!(violations(fine), Vec::new());
}
