//! "Supported" is earned by a test: every key the configuration reference
//! lists as supported names the tests that exercise it
//! (`jhub_config::evidence::EVIDENCE`), and those tests exist in the
//! workspace. A key without an entry is listed as "read, no behaviour test
//! yet" instead.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers may panic: a panic is a failed test

use jhub_config::evidence::EVIDENCE;
use jhub_config::keys::{self, Class};
use jhub_config::sections::{self, Support};
use std::collections::BTreeSet;
use std::path::Path;

/// Every `#[test]` / `#[tokio::test]` function name under `crates/`.
fn workspace_tests() -> BTreeSet<String> {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let attr =
        regex::Regex::new(r"#\[(?:tokio::)?test[^\]]*\]\s*(?:#\[[^\]]*\]\s*)*(?:async\s+)?fn\s+(\w+)").expect("regex");
    let mut names = BTreeSet::new();
    let mut stack = vec![crates];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable crates dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable source");
                names.extend(attr.captures_iter(&text).map(|c| c[1].to_string()));
            }
        }
    }
    names
}

/// The keys the reference may call supported: z2jh paths the hub reads and
/// `trait:<name>` for supported `hub.config` traits.
fn readable_keys() -> BTreeSet<String> {
    let mut out: BTreeSet<String> = keys::RULES
        .iter()
        .filter(|(_, class)| matches!(class, Class::Supported { .. }))
        .map(|(path, _)| path.to_string())
        .collect();
    for section in sections::KNOWN_SECTIONS {
        for table in sections::section(section).unwrap_or_default() {
            for t in table.iter().filter(|t| t.support == Support::Supported) {
                out.insert(format!("trait:{}", t.name));
            }
        }
    }
    out
}

#[test]
fn every_named_test_exists() {
    let tests = workspace_tests();
    assert!(tests.len() > 300, "found only {} tests: is the search broken?", tests.len());
    let missing: Vec<String> = EVIDENCE
        .iter()
        .flat_map(|(key, names)| names.iter().map(move |n| (key, n)))
        .filter(|(_, name)| !tests.contains(**name))
        .map(|(key, name)| format!("{key}: {name}"))
        .collect();
    assert!(missing.is_empty(), "evidence names tests that do not exist: {missing:#?}");
}

#[test]
fn evidence_is_only_for_keys_the_hub_reads_and_never_empty() {
    let readable = readable_keys();
    let mut seen = BTreeSet::new();
    for (key, names) in EVIDENCE {
        assert!(readable.contains(*key), "{key} is not a key the hub reads");
        assert!(!names.is_empty(), "{key}: an entry must name at least one test");
        assert!(seen.insert(*key), "{key} listed twice");
    }
}

#[test]
fn supported_trait_names_are_unique_across_tables() {
    let mut seen = std::collections::BTreeMap::new();
    for section in sections::KNOWN_SECTIONS {
        for (i, table) in sections::section(section).unwrap_or_default().iter().enumerate() {
            for t in table.iter().filter(|t| t.support == Support::Supported) {
                let id = (table.as_ptr() as usize, i);
                if let Some(previous) = seen.insert(t.name, id.0) {
                    assert_eq!(previous, id.0, "{} is in two tables", t.name);
                }
            }
        }
    }
}

/// The reference lists as supported exactly the keys with evidence, and the
/// issue-13 settings are among them.
#[test]
fn the_reference_calls_supported_only_what_is_tested() {
    let doc = jhub_config::reference_markdown();
    for key in readable_keys() {
        let tested = !jhub_config::evidence::tests_for(&key).is_empty();
        if let Some(name) = key.strip_prefix("trait:") {
            let line = doc.lines().find(|l| l.starts_with(&format!("| `{name}` |"))).unwrap_or_default();
            assert_eq!(line.contains("| supported (tested by"), tested, "{key}: {line}");
        }
    }
    for key in [
        "trait:manage_groups",
        "trait:allowed_groups",
        "trait:admin_groups",
        "trait:auth_state_groups_key",
        "trait:username_map",
        "trait:username_pattern",
        "trait:delete_invalid_users",
        "trait:refresh_pre_spawn",
        "trait:custom_403_message",
        "trait:load_groups",
    ] {
        assert!(!jhub_config::evidence::tests_for(key).is_empty(), "{key} must be tested");
    }
}
