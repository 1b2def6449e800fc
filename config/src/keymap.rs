//! An index from byte spans to key paths of a TOML document.
//!
//! Serde errors from the toml crate carry a span and a message but not the
//! path of the key they are about. This index records the span of every value
//! in the document under its path (`cluster.stripe_size`, `members[1].peer`),
//! so an error span can be turned back into a field path.
//!
//! It is built with [`toml::Spanned`] on every value, which toml 0.8 does not
//! support for dotted-key tables (`cluster.name = ...`) or date-times; for such
//! documents [`KeyMap::build`] fails and callers fall back to errors without a
//! parent path. The document's syntax is always checked before, elsewhere.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A key path such as `members[1].peer`; empty for the document root.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// This path extended by `key`.
    pub(crate) fn join(&self, key: &str) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        KeyPath(segments)
    }

    fn index(&self, i: usize) -> KeyPath {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(i));
        KeyPath(segments)
    }

    /// Whether the last step is the key `key`.
    pub(crate) fn ends_with_key(&self, key: &str) -> bool {
        matches!(self.0.last(), Some(Segment::Key(k)) if k == key)
    }

    /// Whether the path ends in an item of the array `key` (`key[i]`).
    pub(crate) fn ends_with_item_of(&self, key: &str) -> bool {
        let n = self.0.len();
        n >= 2
            && matches!(self.0[n - 1], Segment::Index(_))
            && matches!(&self.0[n - 2], Segment::Key(k) if k == key)
    }

    /// The path without its last step (the root stays the root).
    pub(crate) fn parent(&self) -> KeyPath {
        let mut segments = self.0.clone();
        segments.pop();
        KeyPath(segments)
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(n) => write!(f, "[{n}]")?,
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write_key(f, k)?;
                }
            }
        }
        Ok(())
    }
}

/// Writes `key` bare when TOML allows it, quoted otherwise, so paths stay
/// unambiguous for keys containing dots or spaces.
fn write_key(f: &mut fmt::Formatter<'_>, key: &str) -> fmt::Result {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        f.write_str(key)
    } else {
        write!(f, "{key:?}")
    }
}

/// Every value of a document with its span, keyed by path.
pub(crate) struct KeyMap {
    entries: Vec<(KeyPath, Range<usize>)>,
}

impl KeyMap {
    /// Indexes `text`; fails on invalid TOML and on the shapes named in the
    /// module docs.
    pub(crate) fn build(text: &str) -> Result<KeyMap, toml::de::Error> {
        let root: Node = toml::from_str(text)?;
        let mut entries = Vec::new();
        flatten(&root, &KeyPath::default(), &mut entries);
        Ok(KeyMap { entries })
    }

    /// The deepest path whose value spans exactly `span` (a table's span is
    /// what serde reports for a key missing from it).
    pub(crate) fn exact(&self, span: &Range<usize>) -> Option<&KeyPath> {
        self.entries
            .iter()
            .filter(|(_, s)| s == span)
            .max_by_key(|(p, _)| p.0.len())
            .map(|(p, _)| p)
    }

    /// The deepest path whose value contains byte `offset`.
    pub(crate) fn containing(&self, offset: usize) -> Option<&KeyPath> {
        self.entries
            .iter()
            .filter(|(_, s)| s.contains(&offset))
            .max_by_key(|(p, _)| p.0.len())
            .map(|(p, _)| p)
    }
}

fn flatten(node: &Node, path: &KeyPath, out: &mut Vec<(KeyPath, Range<usize>)>) {
    match node {
        Node::Table(children) => {
            for (key, child) in children {
                let child_path = path.join(key);
                out.push((child_path.clone(), child.span()));
                flatten(child.get_ref(), &child_path, out);
            }
        }
        Node::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = path.index(i);
                out.push((item_path.clone(), item.span()));
                flatten(item.get_ref(), &item_path, out);
            }
        }
        Node::Leaf => {}
    }
}

/// A TOML value reduced to its shape, with spans on every child.
enum Node {
    Table(Vec<(String, Spanned<Node>)>),
    Array(Vec<Spanned<Node>>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut children = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Spanned<Node>>()? {
            children.push((key, value));
        }
        Ok(Node::Table(children))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "id = 1\n\
                       [cluster]\n\
                       name = \"x\"\n\
                       [[members]]\n\
                       id = 0\n\
                       [[members]]\n\
                       id = 1\n\
                       peer = \"a\"\n";

    fn path_at(map: &KeyMap, needle: &str) -> String {
        let offset = DOC.find(needle).unwrap();
        map.containing(offset)
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn finds_the_deepest_value_at_an_offset() {
        let map = KeyMap::build(DOC).unwrap();
        assert_eq!(path_at(&map, "\"x\""), "cluster.name");
        assert_eq!(path_at(&map, "\"a\""), "members[1].peer");
        assert_eq!(path_at(&map, "1\n[cluster]"), "id");
    }

    #[test]
    fn exact_span_finds_tables() {
        let map = KeyMap::build(DOC).unwrap();
        let start = DOC.find("[cluster]").unwrap();
        let end = DOC.find("\"x\"").unwrap() + 3;
        assert_eq!(map.exact(&(start..end)).unwrap().to_string(), "cluster");
    }

    #[test]
    fn quotes_keys_that_are_not_bare() {
        let path = KeyPath::default().join("a.b").join("c");
        assert_eq!(path.to_string(), "\"a.b\".c");
        assert!(path.ends_with_key("c"));
        assert!(KeyPath::default().is_root());
        let item = KeyPath::default().join("feeds").index(1);
        assert!(item.ends_with_item_of("feeds"));
        assert!(!item.ends_with_item_of("systems"));
        assert_eq!(item.parent().to_string(), "feeds");
    }
}
