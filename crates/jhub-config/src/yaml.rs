//! YAML text → a node tree that remembers where every key and value was
//! written, read the way Helm reads values files.
//!
//! Helm parses values with a YAML 1.1 parser (go-yaml v2 behind
//! `sigs.k8s.io/yaml`), while saphyr implements YAML 1.2. Where the two differ
//! for plain (unquoted) scalars we follow Helm, because that is what a z2jh
//! deployment would have done with the same file: `yes/no/on/off/y/n` are
//! booleans, `0755` is octal, `1_000` is an integer. The YAML 1.1 booleans
//! are also reported as a notice, since they are a classic source of surprise
//! (`country: no`). Duplicate keys keep the last value, as Helm does, and are
//! reported. Merge keys (`<<: *anchor`) are resolved like go-yaml does.
//! Alias expansion is bounded so a hostile file cannot exhaust memory.

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// A 1-based line and column (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A resolved scalar value.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// A node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub yaml: Yaml,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// Something legal but worth telling the user about.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// A plain `yes`/`no`/`on`/`off`/`y`/`n` read as a boolean (YAML 1.1, like Helm).
    Yaml11Bool { pos: Pos, text: String, value: bool },
    /// The same key twice in one mapping; the later value wins, like Helm.
    DuplicateKey { pos: Pos, key: String, first: Pos },
    /// More than one document in the file; Helm reads only the first.
    ExtraDocument { pos: Pos },
}

/// A syntax error, at the position the parser gave up.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// The first document of a file (`None` when the file has no content) and the notices.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub root: Option<Node>,
    pub notices: Vec<Notice>,
}

/// Most nodes alias expansion may create in one file (billion-laughs guard).
const ALIAS_BUDGET: usize = 100_000;
/// Deepest nesting accepted; real values files are < 20 levels deep.
const MAX_DEPTH: usize = 256;

fn pos_of(span: &Span) -> Pos {
    Pos { line: span.start.line(), col: span.start.col() + 1 }
}

enum Frame {
    Seq { pos: Pos, anchor: usize, items: Vec<Node> },
    Map { pos: Pos, anchor: usize, entries: Vec<Entry>, merges: Vec<Node>, key: Option<(String, Pos, bool)> },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: BTreeMap<usize, Node>,
    budget: usize,
    notices: Vec<Notice>,
    root: Option<Node>,
    documents: usize,
}

fn err(pos: Pos, message: impl Into<String>) -> SyntaxError {
    SyntaxError { pos, message: message.into() }
}

fn count_nodes(node: &Node) -> usize {
    match &node.yaml {
        Yaml::Scalar(_) => 1,
        Yaml::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Yaml::Map(entries) => 1 + entries.iter().map(|e| count_nodes(&e.value)).sum::<usize>(),
    }
}

impl Builder {
    /// Whether the next scalar is a mapping key (keys keep their text as written).
    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    fn finish_node(&mut self, node: Node, anchor: usize) -> Result<(), SyntaxError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.attach(node)
    }

    fn attach(&mut self, node: Node) -> Result<(), SyntaxError> {
        match self.stack.last_mut() {
            None => {
                if self.documents == 1 {
                    self.root = Some(node);
                }
                Ok(())
            }
            Some(Frame::Seq { items, .. }) => {
                items.push(node);
                Ok(())
            }
            Some(Frame::Map { entries, merges, key, .. }) => match key.take() {
                None => Err(err(node.pos, "a mapping key must be a plain value, not a list or mapping")),
                Some((name, key_pos, is_merge)) => {
                    if is_merge {
                        merges.push(node);
                        return Ok(());
                    }
                    let value = if matches!(node.yaml, Yaml::Scalar(Scalar::Null)) && node.pos < key_pos {
                        Node { pos: key_pos, ..node }
                    } else {
                        node
                    };
                    if let Some(existing) = entries.iter_mut().find(|e| e.key == name) {
                        self.notices.push(Notice::DuplicateKey { pos: key_pos, key: name, first: existing.key_pos });
                        existing.key_pos = key_pos;
                        existing.value = value;
                    } else {
                        entries.push(Entry { key: name, key_pos, value });
                    }
                    Ok(())
                }
            },
        }
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<Cow<'_, Tag>>,
        pos: Pos,
    ) -> Result<(), SyntaxError> {
        if self.expecting_key() {
            let is_merge = style == ScalarStyle::Plain && text == "<<";
            if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                *key = Some((text.into_owned(), pos, is_merge));
            }
            return Ok(());
        }
        let value = match tag.as_deref() {
            Some(tag) if tag.is_yaml_core_schema() && tag.suffix == "str" => Scalar::Str(text.into_owned()),
            _ if style != ScalarStyle::Plain => Scalar::Str(text.into_owned()),
            _ => {
                let (value, yaml11) = resolve_plain(&text);
                if let Some(b) = yaml11 {
                    self.notices.push(Notice::Yaml11Bool { pos, text: text.into_owned(), value: b });
                }
                value
            }
        };
        self.finish_node(Node { pos, yaml: Yaml::Scalar(value) }, anchor)
    }

    fn alias(&mut self, id: usize, pos: Pos) -> Result<(), SyntaxError> {
        let Some(node) = self.anchors.get(&id) else {
            return Err(err(pos, "alias to an unknown anchor"));
        };
        let size = count_nodes(node);
        if size > self.budget {
            return Err(err(pos, "aliases expand to too many nodes (more than 100000); refusing to expand"));
        }
        self.budget -= size;
        let node = node.clone();
        if self.expecting_key() {
            return match node.yaml {
                Yaml::Scalar(s) => {
                    let text = scalar_text(&s);
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some((text, pos, false));
                    }
                    Ok(())
                }
                _ => Err(err(pos, "a mapping key must be a plain value, not a list or mapping")),
            };
        }
        self.attach(Node { pos, yaml: node.yaml })
    }

    fn end_map(&mut self) -> Result<(), SyntaxError> {
        let Some(Frame::Map { pos, anchor, mut entries, merges, .. }) = self.stack.pop() else {
            return Err(err(Pos::default(), "unbalanced mapping end"));
        };
        // Explicit keys win over merged ones; earlier merge sources win over later ones.
        for source in merges {
            let maps: Vec<Node> = match source.yaml {
                Yaml::Map(_) => vec![source],
                Yaml::Seq(items) => items,
                Yaml::Scalar(_) => return Err(err(source.pos, "`<<` merge key needs a mapping or a list of mappings")),
            };
            for map in maps {
                let Yaml::Map(extra) = map.yaml else {
                    return Err(err(map.pos, "`<<` merge key needs a mapping or a list of mappings"));
                };
                for entry in extra {
                    if !entries.iter().any(|e| e.key == entry.key) {
                        entries.push(entry);
                    }
                }
            }
        }
        self.finish_node(Node { pos, yaml: Yaml::Map(entries) }, anchor)
    }

    fn end_seq(&mut self) -> Result<(), SyntaxError> {
        let Some(Frame::Seq { pos, anchor, items }) = self.stack.pop() else {
            return Err(err(Pos::default(), "unbalanced sequence end"));
        };
        self.finish_node(Node { pos, yaml: Yaml::Seq(items) }, anchor)
    }

    fn push(&mut self, frame: Frame, pos: Pos) -> Result<(), SyntaxError> {
        if self.expecting_key() {
            return Err(err(pos, "a mapping key must be a plain value, not a list or mapping"));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(err(pos, "nesting is deeper than 256 levels"));
        }
        self.stack.push(frame);
        Ok(())
    }
}

/// Text of a scalar used as a key through an alias.
fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => "null".into(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => s.clone(),
    }
}

/// Parse the first YAML document of `text`.
pub fn parse(text: &str) -> Result<Parsed, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut b = Builder {
        stack: Vec::new(),
        anchors: BTreeMap::new(),
        budget: ALIAS_BUDGET,
        notices: Vec::new(),
        root: None,
        documents: 0,
    };
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| SyntaxError {
            pos: Pos { line: e.marker().line(), col: e.marker().col() + 1 },
            message: e.info().to_string(),
        })?;
        let pos = pos_of(&span);
        match event {
            Event::DocumentStart(_) => {
                b.documents += 1;
                if b.documents == 2 {
                    b.notices.push(Notice::ExtraDocument { pos });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if b.documents <= 1 {
                    b.scalar(text, style, anchor, tag, pos)?;
                }
            }
            Event::Alias(id) => {
                if b.documents <= 1 {
                    b.alias(id, pos)?;
                }
            }
            Event::SequenceStart(anchor, _) => {
                if b.documents <= 1 {
                    b.push(Frame::Seq { pos, anchor, items: Vec::new() }, pos)?;
                }
            }
            Event::SequenceEnd => {
                if b.documents <= 1 {
                    b.end_seq()?;
                }
            }
            Event::MappingStart(anchor, _) => {
                if b.documents <= 1 {
                    b.push(Frame::Map { pos, anchor, entries: Vec::new(), merges: Vec::new(), key: None }, pos)?;
                }
            }
            Event::MappingEnd => {
                if b.documents <= 1 {
                    b.end_map()?;
                }
            }
            Event::StreamEnd => break,
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
        }
    }
    Ok(Parsed { root: b.root, notices: b.notices })
}

/// Resolve a plain scalar like go-yaml v2 (YAML 1.1). The second value is
/// `Some(bool)` when the text is one of the YAML 1.1-only booleans.
pub fn resolve_plain(text: &str) -> (Scalar, Option<bool>) {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return (Scalar::Null, None),
        "true" | "True" | "TRUE" => return (Scalar::Bool(true), None),
        "false" | "False" | "FALSE" => return (Scalar::Bool(false), None),
        "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "y" | "Y" => return (Scalar::Bool(true), Some(true)),
        "no" | "No" | "NO" | "off" | "Off" | "OFF" | "n" | "N" => return (Scalar::Bool(false), Some(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return (Scalar::Float(f64::INFINITY), None),
        "-.inf" | "-.Inf" | "-.INF" => return (Scalar::Float(f64::NEG_INFINITY), None),
        ".nan" | ".NaN" | ".NAN" => return (Scalar::Float(f64::NAN), None),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return (Scalar::Str(text.to_string()), None);
    }
    let plain: String = text.chars().filter(|c| *c != '_').collect();
    if let Some(i) = parse_go_int(&plain) {
        return (Scalar::Int(i), None);
    }
    if is_yaml11_float(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return (Scalar::Float(f), None);
    }
    (Scalar::Str(text.to_string()), None)
}

/// Go's `strconv.ParseInt(s, 0, 64)`: optional sign, then `0x`/`0o`/`0b`
/// prefixes or a leading `0` for octal, else decimal.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(rest) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, rest)
    } else if let Some(rest) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, rest)
    } else if let Some(rest) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, rest)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// go-yaml v2's float pattern: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml11_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && matches!(b[i], b'-' | b'+') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return false;
        }
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'-' | b'+') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

impl Node {
    /// The node as JSON (Helm converts values to JSON the same way).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.yaml {
            Yaml::Scalar(s) => scalar_to_json(s),
            Yaml::Seq(items) => serde_json::Value::Array(items.iter().map(Node::to_json).collect()),
            Yaml::Map(entries) => {
                serde_json::Value::Object(entries.iter().map(|e| (e.key.clone(), e.value.to_json())).collect())
            }
        }
    }
}

pub fn scalar_to_json(s: &Scalar) -> serde_json::Value {
    match s {
        Scalar::Null => serde_json::Value::Null,
        Scalar::Bool(b) => serde_json::Value::Bool(*b),
        Scalar::Int(i) => serde_json::Value::from(*i),
        Scalar::Float(f) => {
            serde_json::Number::from_f64(*f).map_or_else(|| serde_json::Value::String(f.to_string()), Into::into)
        }
        Scalar::Str(s) => serde_json::Value::String(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(text: &str) -> Node {
        parse(text).unwrap().root.unwrap()
    }

    #[test]
    fn yaml11_scalars_follow_helm() {
        for (text, want) in [
            ("yes", Scalar::Bool(true)),
            ("Off", Scalar::Bool(false)),
            ("true", Scalar::Bool(true)),
            ("0755", Scalar::Int(493)),
            ("0x1f", Scalar::Int(31)),
            ("1_000", Scalar::Int(1000)),
            ("-12", Scalar::Int(-12)),
            ("1.5", Scalar::Float(1.5)),
            ("1e3", Scalar::Float(1000.0)),
            ("16G", Scalar::Str("16G".into())),
            ("~", Scalar::Null),
            ("1.2.3", Scalar::Str("1.2.3".into())),
        ] {
            assert_eq!(resolve_plain(text).0, want, "{text}");
        }
        assert_eq!(resolve_plain("on").1, Some(true));
        assert_eq!(resolve_plain("true").1, None);
    }

    #[test]
    fn quoted_stays_string_and_positions_are_one_based() {
        let n = root("a:\n  b: \"yes\"\n  c: yes\n");
        let Yaml::Map(top) = &n.yaml else { panic!() };
        assert_eq!(top[0].key_pos, Pos { line: 1, col: 1 });
        let Yaml::Map(inner) = &top[0].value.yaml else { panic!() };
        assert_eq!(inner[0].value.yaml, Yaml::Scalar(Scalar::Str("yes".into())));
        assert_eq!(inner[0].key_pos, Pos { line: 2, col: 3 });
        assert_eq!(inner[1].value.yaml, Yaml::Scalar(Scalar::Bool(true)));
        assert_eq!(inner[1].value.pos, Pos { line: 3, col: 6 });
    }

    #[test]
    fn duplicate_keys_keep_the_last_and_are_reported() {
        let parsed = parse("a: 1\nb: 2\na: 3\n").unwrap();
        assert_eq!(parsed.root.unwrap().to_json(), serde_json::json!({"a": 3, "b": 2}));
        assert_eq!(
            parsed.notices,
            vec![Notice::DuplicateKey {
                pos: Pos { line: 3, col: 1 },
                key: "a".into(),
                first: Pos { line: 1, col: 1 }
            }]
        );
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let n = root("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b]\n");
        assert_eq!(
            n.to_json(),
            serde_json::json!({"base": {"x": 1, "y": 2}, "other": {"y": 3, "x": 1}, "list": [{"x": 1, "y": 2}]})
        );
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("too many nodes"), "{e:?}");
    }

    #[test]
    fn only_the_first_document_counts() {
        let parsed = parse("a: 1\n---\nb: 2\n").unwrap();
        assert_eq!(parsed.root.unwrap().to_json(), serde_json::json!({"a": 1}));
        assert!(matches!(parsed.notices[..], [Notice::ExtraDocument { .. }]));
    }

    #[test]
    fn empty_input_has_no_root() {
        assert_eq!(parse("").unwrap().root, None);
        assert_eq!(parse("# only a comment\n").unwrap().root, None);
    }
}
