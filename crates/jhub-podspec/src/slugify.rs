//! python-slugify 9.x `slugify(text)` with default arguments (the "legacy"
//! pipeline KubeSpawner uses for profile slugs), re-implemented:
//!
//! 1. runs of `'` become `-`;
//! 2. NFKD, then ASCII transliteration (text-unidecode in Python,
//!    `deunicode` here, corrected by [`TRANSLIT_OVERRIDES`]);
//! 3. HTML entities (`&amp;`, `&#233;`, `&#xE9;`) decoded;
//! 4. NFKD again, lower-case, `'` removed, `,` between digits removed;
//! 5. runs of anything outside `[-a-zA-Z0-9]` become `-`; runs of `-`
//!    collapse; leading/trailing `-` stripped.

use unicode_normalization::UnicodeNormalization;

use crate::slugify_tables::{EMPTY_RANGES, ENTITIES, SEPARATOR_RANGES, TRANSLIT_OVERRIDES};

fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = u32::from(c);
    ranges
        .binary_search_by(|&(start, end)| {
            if end < cp {
                std::cmp::Ordering::Less
            } else if start > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// One character as text-unidecode would transliterate it (as far as a slug
/// can tell): its table stops at U+FFFF, so e.g. emoji vanish, where
/// `deunicode` would spell them out.
fn transliterate_char(c: char, out: &mut String) {
    if u32::from(c) > 0xFFFF || in_ranges(EMPTY_RANGES, c) {
        return;
    }
    if let Ok(idx) = TRANSLIT_OVERRIDES.binary_search_by(|(k, _)| k.cmp(&c)) {
        out.push_str(TRANSLIT_OVERRIDES[idx].1);
    } else if in_ranges(SEPARATOR_RANGES, c) {
        out.push('-');
    } else if let Some(ascii) = deunicode::deunicode_char(c) {
        out.push_str(ascii);
    }
}

fn transliterate(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            transliterate_char(c, &mut out);
        }
    }
    out
}

fn entity(name: &str) -> Option<char> {
    ENTITIES.binary_search_by(|(k, _)| (*k).cmp(name)).ok().and_then(|idx| char::from_u32(ENTITIES[idx].1))
}

/// One pass of `&name;` / `&#123;` / `&#x7b;` decoding. Python applies each
/// kind as a separate regex substitution and abandons a numeric pass
/// entirely when one reference is out of range; this mirrors that.
fn decode_entities(text: &str) -> String {
    let named = replace_refs(text, |body| {
        let name = body.strip_suffix(';')?;
        if name.chars().all(|c| c.is_ascii_alphanumeric()) { entity(name).map(Some) } else { None }
    })
    .unwrap_or_else(|| text.to_string());
    let decimal = replace_refs(&named, |body| {
        let digits = body.strip_prefix('#')?.strip_suffix(';')?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(digits.parse::<u32>().ok().and_then(char::from_u32))
    })
    .unwrap_or_else(|| named.clone());
    replace_refs(&decimal, |body| {
        let digits = body.strip_prefix("#x")?.strip_suffix(';')?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(u32::from_str_radix(digits, 16).ok().and_then(char::from_u32))
    })
    .unwrap_or(decimal)
}

/// Replaces every `&...;` whose body `decode` recognises. `decode` returns
/// `None` for "not a reference" and `Some(None)` for "a reference that Python
/// cannot decode", which aborts the pass (`None` result).
fn replace_refs(text: &str, decode: impl Fn(&str) -> Option<Option<char>>) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let candidate = after.find(';').map(|semi| &after[..=semi]);
        match candidate.and_then(&decode) {
            Some(Some(c)) => {
                out.push(c);
                rest = &after[candidate.map_or(0, str::len)..];
            }
            Some(None) => return None,
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Some(out)
}

/// Removes `,` between two ASCII digits (`1,000` → `1000`).
fn drop_digit_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (idx, &c) in chars.iter().enumerate() {
        let between_digits = c == ','
            && idx > 0
            && chars[idx - 1].is_ascii_digit()
            && chars.get(idx + 1).is_some_and(char::is_ascii_digit);
        if !between_digits {
            out.push(c);
        }
    }
    out
}

/// Replaces each run of characters matching `pred` by `with`.
fn collapse(text: &str, pred: impl Fn(char) -> bool, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_run = false;
    for c in text.chars() {
        if pred(c) {
            if !in_run {
                out.push_str(with);
            }
            in_run = true;
        } else {
            out.push(c);
            in_run = false;
        }
    }
    out
}

/// `slugify(text)` with python-slugify's defaults.
pub fn slugify(text: &str) -> String {
    let quoted = collapse(text, |c| c == '\'', "-");
    let transliterated = transliterate(&quoted.nfkd().collect::<String>());
    let decoded = decode_entities(&transliterated);
    let lowered = decoded.nfkd().collect::<String>().to_lowercase();
    let unquoted: String = lowered.chars().filter(|&c| c != '\'').collect();
    let numbers = drop_digit_commas(&unquoted);
    // `[^-a-zA-Z0-9]+` → `-`, then `-{2,}` → `-`: together, any run of
    // non-alphanumerics (dashes included) becomes a single dash.
    let cleaned = collapse(&numbers, |c| !c.is_ascii_alphanumeric(), "-");
    cleaned.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_and_numbers() {
        assert_eq!(slugify("Tom &amp; Jerry"), "tom-jerry");
        // Entities are decoded after transliteration, so the decomposed accent
        // becomes a word break (checked against python-slugify 9.2.0).
        assert_eq!(slugify("Caf&eacute; &#233;t&#xE9;"), "cafe-e-te");
        assert_eq!(slugify("1,000 cores, 2 GPUs"), "1000-cores-2-gpus");
        assert_eq!(slugify("&#99999999; x"), "99999999-x");
        assert_eq!(slugify("a & b"), "a-b");
        assert_eq!(slugify("it's 'quoted'"), "it-s-quoted");
        assert_eq!(slugify("---"), "");
    }

    #[test]
    fn tables_are_sorted() {
        assert!(ENTITIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(TRANSLIT_OVERRIDES.windows(2).all(|w| w[0].0 < w[1].0));
        for ranges in [EMPTY_RANGES, SEPARATOR_RANGES] {
            assert!(ranges.iter().all(|(a, b)| a <= b));
            assert!(ranges.windows(2).all(|w| w[0].1 < w[1].0));
        }
    }

    /// Regenerating the tables (tests/golden/gen_slugify_tables.py) needs
    /// what plain `deunicode` does for every BMP character.
    #[test]
    #[ignore = "generator input: set JHUB_DEUNICODE_DUMP=<file>"]
    fn dump_deunicode() {
        let Ok(path) = std::env::var("JHUB_DEUNICODE_DUMP") else { return };
        let dump: Vec<(u32, String)> = (0x80u32..0x10000)
            .filter_map(char::from_u32)
            .map(|c| (u32::from(c), c.to_string().nfkd().map(|d| deunicode::deunicode_char(d).unwrap_or("")).collect()))
            .collect();
        std::fs::write(path, serde_json::to_string(&dump).unwrap()).unwrap();
    }
}
