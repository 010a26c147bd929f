//! Tidy checks that keep the code base honest, run as ordinary tests
//! (rust-analyzer's habit): every Rust file starts with a module doc, no test
//! is ignored without a stated reason, the two migration folders stay in
//! step, and every crate is in the architecture map.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') && name != "node_modules" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let mut files = Vec::new();
    rust_files(&repo().join("crates"), &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap_or_default().starts_with("//!"))
        .map(|f| f.strip_prefix(repo()).unwrap_or(f).display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a `//!` first line (say what the module owns):\n{}", missing.join("\n"));
}

#[test]
fn ignored_tests_say_why() {
    let mut files = Vec::new();
    rust_files(&repo().join("crates"), &mut files);
    let mut bare = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            // `#[ignore = "reason"]` is fine; a bare `#[ignore]` is not.
            if line == "#[ignore]" || line.starts_with("#[ignore]") {
                bare.push(format!("{}:{}", file.display(), n + 1));
            }
        }
    }
    assert!(bare.is_empty(), "ignored tests without a reason:\n{}", bare.join("\n"));
}

fn versions(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".sql"))
        .map(|n| n.split('_').next().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = versions(&repo().join("migrations/sqlite"));
    let postgres = versions(&repo().join("migrations/postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres, "migrations/sqlite and migrations/postgres must list the same versions");
}

#[test]
fn every_crate_is_on_the_architecture_map() {
    let map = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(repo().join("crates")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if !map.contains(&format!("`{name}`")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "crates missing from ARCHITECTURE.md's code map: {missing:?}");
}
