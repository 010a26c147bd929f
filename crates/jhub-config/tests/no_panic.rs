//! Whatever text a user feeds in, the loader answers with a config or
//! diagnostics; it never panics.

use jhub_config::{Environment, Format, Source, load};
use proptest::prelude::*;

fn run(text: String) {
    let result = load(&[Source::Text { name: "fuzz.yaml".into(), text }], &Environment::empty());
    // Rendering must not panic either (carets on odd lines, tabs, unicode).
    match result {
        Ok(l) => {
            let _ = l.render_diagnostics(Format::Human);
            let _ = jhub_config::print_effective(&l);
        }
        Err(e) => {
            let _ = e.render(Format::Human);
            let _ = e.render(Format::Json);
        }
    }
}

/// Lines built from YAML's tricky pieces at random indentation.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "hub:",
        "config:",
        "singleuser:",
        "- ",
        "a: b",
        "cull: {timeout: 1}",
        "'q",
        "\"q",
        "{",
        "}",
        "[",
        "]",
        "&x a",
        "*x",
        "<<: *x",
        "? k",
        ": v",
        "|",
        ">-",
        "!!str 1",
        "\t",
        "# c",
        "---",
        "...",
        "profileList:",
        "kubespawner_override:",
        "mem_limit: 16Gi",
        "cpu_limit: \"8\"",
        "yes",
        "0x1g",
        "é: ü",
        "~",
        "%YAML 1.1",
        "<placeholder>",
        "JupyterHub:",
        "gitlab:",
        "- display_name: x",
    ]);
    prop::collection::vec((0usize..7, prop::collection::vec(token, 1..4)), 0..25).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(indent, parts)| format!("{}{}", " ".repeat(indent), parts.concat()))
            .collect::<Vec<_>>()
            .join("\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        run(text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in yamlish()) {
        run(text);
    }
}
