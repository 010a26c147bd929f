//! Explains YAML syntax errors caused by indentation: finds the line whose
//! indentation differs from its siblings' (the parser usually notices a few
//! lines later, where the damage becomes unparseable).
//!
//! Works on the raw text, line by line, because the parser has no tree to
//! offer once the indentation is broken. The model: a line's parent is the
//! nearest earlier line with less indentation that can open a block (a key
//! with no inline value, or a list item); lines with the same parent are
//! siblings and should share one indentation.

/// An indentation mistake found in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndentFinding {
    /// 1-based line of the mis-indented line.
    pub line: usize,
    /// The key written on that line (or the line's text when it has no key).
    pub key: String,
    /// Spaces before the key.
    pub indent: usize,
    /// Spaces its siblings use.
    pub expected: usize,
    /// The parent key and its line, when there is one (None at the top level).
    pub parent: Option<(String, usize)>,
    /// Lines of siblings that use `expected` (first few).
    pub sibling_lines: Vec<usize>,
    /// Last line of the mis-indented line's own block (== `line` when it has none).
    pub block_end: usize,
}

/// A tab used for indentation (YAML forbids it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabFinding {
    pub line: usize,
    pub col: usize,
}

struct Line<'a> {
    no: usize,
    indent: usize,
    /// Indentation of the content after `- ` markers (== indent for non-item lines).
    content_indent: usize,
    key: Option<&'a str>,
    opens_block: bool,
    is_item: bool,
}

/// Split `key: rest` (rest may be empty) respecting quotes; None when the line has no key.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let quote = match bytes.first() {
        Some(b'"') => Some(b'"'),
        Some(b'\'') => Some(b'\''),
        _ => None,
    };
    if let Some(q) = quote {
        i = 1;
        while i < bytes.len() && bytes[i] != q {
            i += if bytes[i] == b'\\' && q == b'"' { 2 } else { 1 };
        }
        i += 1;
    }
    while i < bytes.len() {
        if bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t') {
            let key = text[..i].trim();
            let rest = text[i + 1..].trim();
            return Some((key.trim_matches(|c| c == '"' || c == '\''), rest));
        }
        if bytes[i] == b' ' && bytes.get(i + 1) == Some(&b'#') {
            return None;
        }
        i += 1;
    }
    None
}

fn strip_comment(rest: &str) -> &str {
    if rest.starts_with('#') {
        return "";
    }
    match rest.find(" #") {
        Some(i) if !rest.starts_with('"') && !rest.starts_with('\'') => rest[..i].trim_end(),
        _ => rest,
    }
}

fn is_block_scalar_header(rest: &str) -> bool {
    let rest = strip_comment(rest);
    let rest = rest.trim_start_matches(|c: char| c == '&' || c == '!' || c.is_alphanumeric()).trim();
    (rest.starts_with('|') || rest.starts_with('>'))
        && rest[1..].chars().all(|c| matches!(c, '-' | '+') || c.is_ascii_digit())
}

fn analyse(text: &str) -> (Vec<Line<'_>>, Vec<TabFinding>) {
    let mut lines = Vec::new();
    let mut tabs = Vec::new();
    let mut block_scalar_indent: Option<usize> = None;
    for (idx, raw) in text.lines().enumerate() {
        let no = idx + 1;
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let content = &raw[indent..];
        if content.trim().is_empty() {
            continue;
        }
        if let Some(limit) = block_scalar_indent {
            if indent > limit {
                continue;
            }
            block_scalar_indent = None;
        }
        if content.starts_with('\t') {
            tabs.push(TabFinding { line: no, col: indent + 1 });
            continue;
        }
        if content.starts_with('#') || content.starts_with("---") || content.starts_with("...") {
            continue;
        }
        // Peel `- ` item markers: `- - key: v` has content two levels in.
        let mut body = content;
        let mut is_item = false;
        while let Some(rest) = body.strip_prefix("- ").or_else(|| if body == "-" { Some("") } else { None }) {
            is_item = true;
            body = rest.trim_start_matches(' ');
        }
        let content_indent = raw.len() - body.len();
        let (key, opens_block) = match split_key(body) {
            Some((key, rest)) => {
                let rest = strip_comment(rest);
                if is_block_scalar_header(rest) {
                    block_scalar_indent = Some(content_indent);
                }
                let anchor_only = rest.starts_with('&') && !rest.contains(' ');
                (Some(key), rest.is_empty() || anchor_only)
            }
            None => (None, is_item && body.is_empty()),
        };
        lines.push(Line { no, indent, content_indent, key, opens_block: opens_block || is_item, is_item });
    }
    (lines, tabs)
}

/// Tabs used as indentation.
pub fn find_tabs(text: &str) -> Vec<TabFinding> {
    analyse(text).1
}

/// Find the mis-indented line closest before (or at) `error_line`; if none
/// precedes it, the first one after.
pub fn diagnose(text: &str, error_line: usize) -> Option<IndentFinding> {
    let (lines, _) = analyse(text);
    // Parent of each line: nearest earlier line that opens a block and whose
    // content starts left of this line.
    let mut parent: Vec<Option<usize>> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let p = (0..i).rev().find(|&j| {
            let cand = &lines[j];
            cand.opens_block && (cand.indent < line.indent || (cand.is_item && cand.content_indent <= line.indent))
        });
        parent.push(p);
    }
    // Group siblings. An item line whose key sits inline (`- name: x`)
    // contributes its content indentation to the group of the lines below it.
    let mut groups: BTreeMapVec = BTreeMapVec::default();
    for (i, line) in lines.iter().enumerate() {
        groups.push(parent[i], (line.indent, i));
        if line.is_item && line.key.is_some() {
            groups.push(Some(i), (line.content_indent, i));
        }
    }
    let mut findings = Vec::new();
    for (parent_idx, members) in groups.0 {
        let mut counts: Vec<(usize, usize, usize)> = Vec::new(); // (indent, count, first position)
        for (pos, (indent, _)) in members.iter().enumerate() {
            match counts.iter_mut().find(|c| c.0 == *indent) {
                Some(c) => c.1 += 1,
                None => counts.push((*indent, 1, pos)),
            }
        }
        if counts.len() < 2 {
            continue;
        }
        // The most common indentation wins; on a tie, the first one written.
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let expected = counts[0].0;
        for (indent, i) in &members {
            if *indent == expected {
                continue;
            }
            let line = &lines[*i];
            // An inline item key counted at its content indent is not the culprit.
            if line.is_item && *indent == line.content_indent && Some(*i) == parent_idx {
                continue;
            }
            let sibling_lines = members
                .iter()
                .filter(|(ind, j)| *ind == expected && lines[*j].no != line.no)
                .map(|(_, j)| lines[*j].no)
                .take(4)
                .collect();
            let block_end =
                lines[*i + 1..].iter().take_while(|l| l.indent > line.indent).last().map_or(line.no, |l| l.no);
            findings.push(IndentFinding {
                line: line.no,
                key: line
                    .key
                    .map_or_else(|| text.lines().nth(line.no - 1).unwrap_or("").trim().to_string(), str::to_string),
                indent: *indent,
                expected,
                parent: parent_idx.map(|p| (lines[p].key.unwrap_or("-").to_string(), lines[p].no)),
                sibling_lines,
                block_end,
            });
        }
    }
    findings.sort_by_key(|f| f.line);
    let before = findings.iter().rev().find(|f| f.line <= error_line).cloned();
    before.or_else(|| findings.into_iter().next())
}

#[derive(Default)]
struct BTreeMapVec(std::collections::BTreeMap<Option<usize>, Vec<(usize, usize)>>);

impl BTreeMapVec {
    fn push(&mut self, key: Option<usize>, value: (usize, usize)) {
        self.0.entry(key).or_default().push(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_over_indented_key() {
        let text = "a:\n  b: 1\n   c:\n    d: 2\n  e: 3\n";
        let f = diagnose(text, 5).unwrap();
        assert_eq!((f.line, f.key.as_str(), f.indent, f.expected), (3, "c", 3, 2));
        assert_eq!(f.parent, Some(("a".into(), 1)));
        assert_eq!(f.block_end, 4);
    }

    #[test]
    fn list_items_and_block_scalars_are_understood() {
        let text = "a:\n  - name: x\n    mountPath: /y\n  - name: z\n     mountPath: /w\nb: |\n   free\n  text\n";
        let f = diagnose(text, 5).unwrap();
        assert_eq!((f.line, f.indent, f.expected), (5, 5, 4));
        assert_eq!(diagnose("a:\n  - x\n  - y\nb: |\n    text\n      more\n", 6), None);
    }

    #[test]
    fn tabs_are_found() {
        assert_eq!(find_tabs("a:\n\tb: 1\n"), vec![TabFinding { line: 2, col: 1 }]);
    }
}
