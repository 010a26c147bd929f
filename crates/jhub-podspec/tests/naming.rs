//! Every naming vector KubeSpawner 7.1 / python-slugify produced
//! (tests/golden/naming-vectors.json, slugify-chars.tsv) must come out of
//! jhub-podspec identically.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use jhub_podspec::names::{SlugRules, SlugScheme, UserProperties, escape_slug, label_slug, profile_slug, safe_slug};
use serde_json::Value;
use std::path::PathBuf;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name)
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(golden("naming-vectors.json")).unwrap()).unwrap()
}

#[test]
fn spawner_names_match_kubespawner() {
    let data = vectors();
    let rows = data["spawner_names"].as_array().unwrap();
    assert!(rows.len() > 50);
    let mut checked = 0;
    for row in rows {
        let user = row["user"].as_str().unwrap();
        let server = row["server"].as_str().unwrap();
        if user.is_empty() {
            continue;
        }
        for (scheme_name, scheme) in [("safe", SlugScheme::Safe), ("escape", SlugScheme::Escape)] {
            let expect = &row[scheme_name];
            let props = UserProperties::new(user, 1, server, scheme, "ns", "ns");
            let ctx = format!("{user:?}/{server:?} {scheme_name}");
            assert_eq!(props.expand("{username}").unwrap(), expect["username"], "{ctx}");
            assert_eq!(props.expand("{servername}").unwrap(), expect["servername"], "{ctx}");
            assert_eq!(props.expand("{user_server}").unwrap(), expect["user_server"], "{ctx}");
            assert_eq!(props.expand("jupyter-{user_server}").unwrap(), expect["pod_name"], "{ctx}");
            assert_eq!(props.expand("claim-{user_server}").unwrap(), expect["pvc_name"], "{ctx}");
            checked += 1;
        }
        assert_eq!(label_slug(user), row["label_username"], "{user:?}");
        assert_eq!(label_slug(server), row["label_servername"], "{server:?}");
    }
    assert!(checked > 100);
}

#[test]
fn slug_functions_match_kubespawner() {
    let data = vectors();
    for row in data["slug_functions"].as_array().unwrap() {
        let input = row["input"].as_str().unwrap();
        if let Some(expect) = row["safe_slug_default"].as_str() {
            assert_eq!(safe_slug(input, SlugRules::ObjectName, None), expect, "{input:?}");
        }
        if let Some(expect) = row["safe_slug_max48"].as_str() {
            assert_eq!(safe_slug(input, SlugRules::ObjectName, Some(48)), expect, "{input:?}");
        }
        assert_eq!(safe_slug(input, SlugRules::LabelValue, None), row["safe_slug_label"], "{input:?}");
        assert_eq!(escape_slug(input), row["escape_slug"], "{input:?}");
    }
}

#[test]
fn profile_slugs_match_python_slugify() {
    let data = vectors();
    for row in data["profile_slugs"].as_array().unwrap() {
        let display = row["display_name"].as_str().unwrap();
        assert_eq!(profile_slug(display), row["slug"], "{display:?}");
    }
}

#[test]
fn transliteration_matches_text_unidecode() {
    let text = std::fs::read_to_string(golden("slugify-chars.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    // Characters given a compatibility decomposition after Unicode 14 (the
    // vectors come from Python 3.11): newer Pythons decompose them like jhub.
    let newer_unicode = ["209d", "209f", "a7f1"];
    for line in text.lines() {
        let (hex, expect) = line.split_once('\t').unwrap();
        if newer_unicode.contains(&hex) {
            continue;
        }
        let c = char::from_u32(u32::from_str_radix(hex, 16).unwrap()).unwrap();
        let got = profile_slug(&format!("a{c}b"));
        if got != expect {
            failures.push(format!("U+{hex} {c}: python {expect:?}, jhub {got:?}"));
        }
        count += 1;
    }
    assert!(count > 7000);
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
