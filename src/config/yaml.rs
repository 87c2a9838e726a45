//! The YAML layer of the config loader: parses the document (with `serde-saphyr`, pure Rust)
//! into a small tree that remembers the line of every mapping key, and reads typed values out
//! of it while collecting every problem (wrong type, missing key, unknown key) with its YAML
//! path and line, instead of stopping at the first one.

use std::cell::{Cell, RefCell};
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::Problem;

/// One YAML node. Keys of mappings carry their (1-based) line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Map(Vec<Entry>),
    Seq(Vec<Node>),
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
}

/// A mapping entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub line: usize,
    pub value: Node,
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Map(_) => "a mapping",
            Node::Seq(_) => "a list",
            Node::Str(_) => "a string",
            Node::Int(_) => "an integer",
            Node::Float(_) => "a number",
            Node::Bool(_) => "a boolean",
            Node::Null => "nothing",
        }
    }

    /// The scalar as text (numbers and booleans too), or `None` for collections and null.
    fn as_text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// A mapping key: any scalar, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Node::deserialize(d)? {
            Node::Null => Ok(Key("~".into())),
            node => node
                .as_text()
                .map(Key)
                .ok_or_else(|| de::Error::custom("mapping keys must be plain scalars")),
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Int(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
                Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                Node::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = a.next_element()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = a.next_key::<Spanned<Key>>()? {
                    let value: Node = a.next_value()?;
                    let line = usize::try_from(key.referenced.line()).unwrap_or(0);
                    entries.push(Entry {
                        key: key.value.0,
                        line,
                        value,
                    });
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses a YAML document. A syntax error comes back as one problem with its line and the
/// path of the key it is under (found by a light scan of the text).
pub(crate) fn parse(text: &str) -> Result<Node, Problem> {
    let mut options = serde_saphyr::Options::default();
    options.with_snippet = false;
    // `yes`/`no`/`on`/`off` stay strings: only true/false are booleans (YAML 1.2).
    options.strict_booleans = true;
    match serde_saphyr::from_str_with_options::<Node>(text, options) {
        Ok(Node::Null) => Ok(Node::Map(Vec::new())),
        Ok(node) => Ok(node),
        Err(e) => {
            let line = e
                .location()
                .and_then(|l| usize::try_from(l.line()).ok())
                .filter(|l| *l > 0);
            let mut message = e.to_string();
            if let Some(at) = message.rfind(" at line ") {
                message.truncate(at);
            }
            // Advice meant for programmers, not for people editing the file.
            if let Some(at) = message.find(", set DuplicateKeyPolicy") {
                message.truncate(at);
            }
            let path = line.and_then(|l| scan_path_at(text, l)).unwrap_or_default();
            Err(Problem {
                path,
                line,
                message: format!("YAML syntax error: {message}"),
            })
        }
    }
}

/// Best-effort YAML path of the block-mapping key at or before `line` (1-based), from the
/// indentation of the lines above. Used only to locate syntax errors.
pub(crate) fn scan_path_at(text: &str, line: usize) -> Option<String> {
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut found = None;
    for raw in text.lines().take(line) {
        let content = raw.trim_start_matches(' ');
        let indent = raw.len() - content.len();
        if content.is_empty() || content.starts_with('#') || content.starts_with('-') {
            continue;
        }
        let Some(key) = leading_key(content) else {
            continue;
        };
        while stack.last().is_some_and(|(i, _)| *i >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        found = Some(
            stack
                .iter()
                .map(|(_, k)| k.as_str())
                .fold(String::new(), |p, k| join_path(&p, k)),
        );
    }
    found
}

/// The key of a `key: value` line, unquoted, if the line starts with one.
fn leading_key(content: &str) -> Option<String> {
    let (key, rest) = if let Some(q @ ('"' | '\'')) = content.chars().next() {
        let end = content[1..].find(q)? + 1;
        (content[1..end].to_owned(), &content[end + 1..])
    } else {
        let colon = content.find(':')?;
        (content[..colon].trim_end().to_owned(), &content[colon..])
    };
    let rest = rest.trim_start();
    let after = rest.strip_prefix(':')?;
    (after.is_empty() || after.starts_with([' ', '\t'])).then_some(key)
}

/// `parent.key`, quoting keys that are not plain identifiers (`bridge.permissions."a.b"`).
pub(crate) fn join_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if plain {
        key.to_owned()
    } else {
        format!("\"{}\"", key.replace('\\', "\\\\").replace('"', "\\\""))
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// Collects problems while values are read.
#[derive(Default)]
pub(crate) struct Problems {
    list: RefCell<Vec<Problem>>,
}

impl Problems {
    pub fn push(&self, path: &str, line: Option<usize>, message: impl Into<String>) {
        self.list.borrow_mut().push(Problem {
            path: path.to_owned(),
            line,
            message: message.into(),
        });
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.list.into_inner()
    }
}

/// A mapping being read: every key read is marked, and [`Section::finish`] reports the rest
/// as unknown keys. Lines of every key read are recorded for the later validation pass.
pub(crate) struct Section<'a> {
    problems: &'a Problems,
    lines: &'a RefCell<Vec<(String, usize)>>,
    pub path: String,
    pub line: Option<usize>,
    entries: &'a [Entry],
    used: Vec<Cell<bool>>,
}

/// A value read from a section, with where it was.
pub(crate) struct Found<'a> {
    pub node: &'a Node,
    pub path: String,
    pub line: usize,
}

impl<'a> Section<'a> {
    /// The document root.
    pub fn root(
        node: &'a Node,
        problems: &'a Problems,
        lines: &'a RefCell<Vec<(String, usize)>>,
    ) -> Self {
        let entries: &[Entry] = match node {
            Node::Map(entries) => entries,
            other => {
                problems.push(
                    "",
                    Some(1),
                    format!("the document must be a mapping, not {}", other.kind()),
                );
                &[]
            }
        };
        Self::new(problems, lines, String::new(), None, entries)
    }

    fn new(
        problems: &'a Problems,
        lines: &'a RefCell<Vec<(String, usize)>>,
        path: String,
        line: Option<usize>,
        entries: &'a [Entry],
    ) -> Self {
        Self {
            problems,
            lines,
            path,
            line,
            used: entries.iter().map(|_| Cell::new(false)).collect(),
            entries,
        }
    }

    pub fn problems(&self) -> &'a Problems {
        self.problems
    }

    /// The path of a key of this section.
    pub fn child_path(&self, key: &str) -> String {
        join_path(&self.path, key)
    }

    /// Reports a problem about a key of this section (at the key's line, or the section's).
    pub fn problem(&self, key: &str, message: impl Into<String>) {
        let line = self.line_of(key).or(self.line);
        self.problems.push(&self.child_path(key), line, message);
    }

    fn line_of(&self, key: &str) -> Option<usize> {
        self.entries.iter().find(|e| e.key == key).map(|e| e.line)
    }

    /// The value of `key` (null counts as absent).
    pub fn get(&self, key: &str) -> Option<Found<'a>> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        self.used[i].set(true);
        let entry = &self.entries[i];
        let path = self.child_path(key);
        self.lines.borrow_mut().push((path.clone(), entry.line));
        if entry.value == Node::Null {
            return None;
        }
        Some(Found {
            node: &entry.value,
            path,
            line: entry.line,
        })
    }

    /// A nested mapping; an absent one reads as empty.
    pub fn section(&self, key: &str) -> Section<'a> {
        let path = self.child_path(key);
        match self.get(key) {
            Some(Found {
                node: Node::Map(entries),
                line,
                ..
            }) => Self::new(self.problems, self.lines, path, Some(line), entries),
            Some(found) => {
                self.problems.push(
                    &path,
                    Some(found.line),
                    format!("must be a mapping, not {}", found.node.kind()),
                );
                Self::new(self.problems, self.lines, path, Some(found.line), &[])
            }
            None => Self::new(self.problems, self.lines, path, self.line, &[]),
        }
    }

    /// True when `key` is present and not null.
    pub fn has(&self, key: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.key == key && e.value != Node::Null)
    }

    /// An optional scalar as text (numbers and booleans are accepted as their text).
    pub fn string(&self, key: &str) -> Option<String> {
        let found = self.get(key)?;
        let text = found.node.as_text();
        if text.is_none() {
            self.problems.push(
                &found.path,
                Some(found.line),
                format!("must be a string, not {}", found.node.kind()),
            );
        }
        text
    }

    /// A required scalar as text; reports it missing (at the section's line) when absent.
    pub fn required_string(&self, key: &str) -> Option<String> {
        if !self.has(key) {
            let _ = self.get(key);
            self.problems
                .push(&self.child_path(key), self.line, "missing (required)");
            return None;
        }
        self.string(key)
    }

    /// An optional integer in `min..=max` (a quoted number is accepted too).
    pub fn int(&self, key: &str, min: i128, max: i128) -> Option<i128> {
        let found = self.get(key)?;
        let value = match found.node {
            Node::Int(i) => Some(*i),
            Node::Str(s) => s.trim().parse::<i128>().ok(),
            _ => None,
        };
        match value {
            Some(v) if (min..=max).contains(&v) => Some(v),
            Some(_) => {
                self.problems.push(
                    &found.path,
                    Some(found.line),
                    format!("must be between {min} and {max}"),
                );
                None
            }
            None => {
                self.problems.push(
                    &found.path,
                    Some(found.line),
                    format!(
                        "must be an integer between {min} and {max}, not {}",
                        describe(found.node)
                    ),
                );
                None
            }
        }
    }

    /// An optional boolean (`true` or `false`).
    pub fn bool(&self, key: &str) -> Option<bool> {
        let found = self.get(key)?;
        match found.node {
            Node::Bool(b) => Some(*b),
            other => {
                self.problems.push(
                    &found.path,
                    Some(found.line),
                    format!("must be true or false, not {}", describe(other)),
                );
                None
            }
        }
    }

    /// An optional mapping of scalar values: `(key, value as text, line)` in document order.
    pub fn string_map(&self, key: &str) -> Vec<(String, String, usize)> {
        let section = self.section(key);
        let mut out = Vec::new();
        for entry in section.entries {
            let _ = section.get(&entry.key);
            match entry.value.as_text() {
                Some(v) => out.push((entry.key.clone(), v, entry.line)),
                None => self.problems.push(
                    &section.child_path(&entry.key),
                    Some(entry.line),
                    format!("must be a string, not {}", entry.value.kind()),
                ),
            }
        }
        section.finish();
        out
    }

    /// Reports every key of this section that was not read.
    pub fn finish(self) {
        for (entry, used) in self.entries.iter().zip(&self.used) {
            if !used.get() {
                self.problems.push(
                    &self.child_path(&entry.key),
                    Some(entry.line),
                    "unknown key (misspelt, or not used by this version)",
                );
            }
        }
    }
}

/// A short description of a value for error messages.
fn describe(node: &Node) -> String {
    match node {
        Node::Str(s) => format!("\"{s}\""),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => f.to_string(),
        Node::Bool(b) => b.to_string(),
        other => other.kind().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_nested_path() {
        let text = "a:\n  b: 1\n  c:\n    d: x\n# comment\ne: 2\n";
        assert_eq!(scan_path_at(text, 4).as_deref(), Some("a.c.d"));
        assert_eq!(scan_path_at(text, 6).as_deref(), Some("e"));
        assert_eq!(scan_path_at(text, 2).as_deref(), Some("a.b"));
    }

    #[test]
    fn keys_carry_lines() {
        let node = parse("x: 1\ny:\n  z: [1, 2]\n").unwrap_or(Node::Null);
        let Node::Map(entries) = node else {
            panic!("not a map");
        };
        assert_eq!(entries[1].key, "y");
        assert_eq!(entries[1].line, 2);
        let Node::Map(inner) = &entries[1].value else {
            panic!("not a map");
        };
        assert_eq!(inner[0].line, 3);
    }

    #[test]
    fn join_quotes_odd_keys() {
        assert_eq!(join_path("a", "b"), "a.b");
        assert_eq!(join_path("a", "x.y"), "a.\"x.y\"");
        assert_eq!(join_path("", "*"), "\"*\"");
    }
}
