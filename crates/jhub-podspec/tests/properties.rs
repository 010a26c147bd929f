//! Properties over arbitrary input: naming functions and user_options
//! parsing never panic, and `safe` slugs are always valid DNS labels within
//! KubeSpawner's 48-character field budget.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use jhub_podspec::SpawnerConfig;
use jhub_podspec::names::{
    SlugRules, SlugScheme, UserProperties, escape_slug, is_valid_label, is_valid_object_name, label_slug, multi_slug,
    profile_slug, safe_slug,
};
use jhub_podspec::profiles::{self, ProfileList, UserOptions};
use proptest::prelude::*;
use serde_json::{Value, json};

fn any_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z0-9-]{0,70}", "[A-Za-z0-9@._ -]{0,70}", any::<String>(), "\\PC{0,40}",]
}

fn seed_profiles() -> ProfileList {
    ProfileList::from_config(&json!([
        {"display_name": "CPU 分区", "profile_options": {"image": {"display_name": "host",
            "choices": {"lab6": {"display_name": "l1"}, "lab9": {"display_name": "l2"}}}}},
        {"display_name": "Custom", "profile_options": {"image": {"display_name": "image", "choices": {},
            "unlisted_choice": {"enabled": true, "validation_regex": "^[a-z]+$",
                "kubespawner_override": {"image": "{value}", "environment": {"X": "{value}"}}}}}}
    ]))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn safe_slugs_are_valid_dns_labels(name in any_name()) {
        prop_assume!(!name.is_empty());
        let slug = safe_slug(&name, SlugRules::ObjectName, Some(48));
        prop_assert!(is_valid_object_name(&slug), "{name:?} -> {slug:?}");
        prop_assert!(slug.len() <= 48, "{name:?} -> {slug:?}");
        let default_budget = safe_slug(&name, SlugRules::ObjectName, None);
        prop_assert!(is_valid_object_name(&default_budget));
    }

    #[test]
    fn label_slugs_are_valid_labels(name in any_name()) {
        let slug = label_slug(&name);
        prop_assert!(is_valid_label(&slug), "{name:?} -> {slug:?}");
    }

    #[test]
    fn user_server_fields_are_valid_names(user in any_name(), server in any_name()) {
        prop_assume!(!user.is_empty());
        let props = UserProperties::new(&user, 7, &server, SlugScheme::Safe, "ns", "ns");
        let user_server = props.expand("{user_server}").unwrap();
        prop_assert!(is_valid_object_name(&user_server), "{user:?}/{server:?} -> {user_server:?}");
        prop_assert!(user_server.len() <= 48);
        let pod_name = props.expand("jupyter-{user_server}").unwrap();
        prop_assert!(is_valid_object_name(&pod_name), "{}", pod_name);
        // The legacy scheme and the other helpers must not panic either.
        let escaped = UserProperties::new(&user, 7, &server, SlugScheme::Escape, "default", "ns");
        let _ = escaped.expand("claim-{username}--{servername}");
        let _ = escape_slug(&user);
        let slug = multi_slug(&[&user, &server], 48);
        prop_assert!(is_valid_object_name(&slug) && slug.len() <= 48, "{slug}");
    }

    #[test]
    fn profile_slugs_never_panic(text in any::<String>()) {
        let slug = profile_slug(&text);
        prop_assert!(slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        prop_assert!(!slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"));
    }

    #[test]
    fn templates_never_panic(template in any::<String>(), user in any_name()) {
        let props = UserProperties::new(&user, 1, "", SlugScheme::Safe, "ns", "ns");
        let _ = props.expand(&template);
    }

    #[test]
    fn option_parsing_never_panics(
        fields in proptest::collection::vec((any_name(), any::<String>()), 0..8),
        profile in any_name(),
        choice in any::<String>(),
        unlisted in any::<String>(),
    ) {
        let mut pairs: Vec<(String, String)> = fields;
        pairs.push(("profile".into(), profile.clone()));
        pairs.push((format!("profile-option-{profile}--image"), choice.clone()));
        pairs.push((format!("profile-option-{profile}--image--unlisted-choice"), unlisted.clone()));
        let parsed = profiles::options_from_form(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let list = seed_profiles();
        let _ = list.form(&parsed.user_options);
        let cfg = {
            let mut cfg = SpawnerConfig::default();
            cfg.set_traits(json!({"profile_list": [
                {"display_name": "Custom", "profile_options": {"image": {"choices": {"a": {}},
                    "unlisted_choice": {"enabled": true, "kubespawner_override": {"image": "{value}", "environment": {"X": "{value}"}}}}}}
            ]}).as_object().unwrap()).unwrap();
            cfg
        };
        let _ = profiles::resolve(&cfg, &parsed.user_options);
        if let Ok(Some(selection)) = list.validate(&parsed.user_options) {
            let _ = list.apply(&SpawnerConfig::default(), &selection);
        }
        let mut rest = UserOptions::new();
        rest.insert("profile".into(), Value::String("custom".into()));
        rest.insert("image--unlisted-choice".into(), Value::String(unlisted));
        let _ = profiles::resolve(&cfg, &rest);
        let _ = list.validate(&rest);
    }
}
