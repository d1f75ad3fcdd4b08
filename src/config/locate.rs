//! Maps between byte offsets in the TOML text and dotted key paths (`cameras[1].fps`), so
//! that type errors (which carry a byte span) can name the key and validation problems
//! (which carry a key) can name the line.

use std::ops::Range;
use toml::de::{DeTable, DeValue};

struct Entry {
    path: String,
    /// Segments in the path; deeper entries win when several contain an offset.
    depth: usize,
    key_span: Range<usize>,
    value_span: Range<usize>,
}

/// Key positions of one parsed TOML document.
pub(crate) struct SourceMap {
    text: String,
    entries: Vec<Entry>,
}

impl SourceMap {
    pub(crate) fn new(text: &str, root: &DeTable<'_>) -> Self {
        let mut entries = Vec::new();
        walk_table("", 0, root, &mut entries);
        Self {
            text: text.to_string(),
            entries,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        position(&self.text, offset)
    }

    /// The most specific key whose name or value contains `offset`.
    pub(crate) fn key_at(&self, offset: usize) -> Option<&str> {
        self.entries
            .iter()
            .filter(|e| contains(&e.key_span, offset) || contains(&e.value_span, offset))
            .max_by_key(|e| (e.depth, usize::MAX - e.value_span.len()))
            .map(|e| e.path.as_str())
    }

    /// Line where `key` is written.
    pub(crate) fn line_of(&self, key: &str) -> Option<usize> {
        let e = self.entries.iter().find(|e| e.path == key)?;
        Some(self.position(e.key_span.start).0)
    }

    /// For a key that is not written (a default): the line of the closest enclosing table
    /// or array element that is.
    pub(crate) fn table_line_of(&self, key: &str) -> Option<usize> {
        let mut key = parent(key)?;
        loop {
            if let Some(line) = self.line_of(key) {
                return Some(line);
            }
            key = parent(key)?;
        }
    }
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> None.
fn parent(key: &str) -> Option<&str> {
    let cut = key.rfind(['.', '['])?;
    Some(&key[..cut])
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && offset < span.end.max(span.start + 1)
}

pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn walk_table(prefix: &str, depth: usize, table: &DeTable<'_>, out: &mut Vec<Entry>) {
    for (key, value) in table.iter() {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        push(path, depth + 1, key.span(), value, out);
    }
}

fn push(
    path: String,
    depth: usize,
    key_span: Range<usize>,
    value: &toml::Spanned<DeValue<'_>>,
    out: &mut Vec<Entry>,
) {
    match value.get_ref() {
        DeValue::Table(t) => walk_table(&path, depth, t, out),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                push(item_path, depth + 1, item.span(), item, out);
            }
        }
        _ => {}
    }
    out.push(Entry {
        path,
        depth,
        key_span,
        value_span: value.span(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[server]\nlisten = [\"a\", \"b\"]\nmax_clients = 5\n\n\
                        [[cameras]]\nid = \"one\"\n\n[[cameras]]\nid = \"two\"\nfps = 0\n";

    fn map() -> SourceMap {
        let table = DeTable::parse(TEXT).unwrap();
        SourceMap::new(TEXT, table.get_ref())
    }

    #[test]
    fn finds_lines_of_keys_in_tables_and_arrays_of_tables() {
        let m = map();
        assert_eq!(m.line_of("server.max_clients"), Some(3));
        assert_eq!(m.line_of("server.listen[1]"), Some(2));
        assert_eq!(m.line_of("cameras[1].fps"), Some(10));
        assert_eq!(m.line_of("cameras[0].id"), Some(6));
    }

    #[test]
    fn unwritten_key_falls_back_to_its_table() {
        let m = map();
        assert_eq!(m.line_of("cameras[1].width"), None);
        assert_eq!(m.table_line_of("cameras[1].width"), m.line_of("cameras[1]"));
        assert!(m.line_of("cameras[1]").is_some());
        assert_eq!(m.table_line_of("server.token"), Some(1));
        assert_eq!(m.table_line_of("storage.dir"), None);
    }

    #[test]
    fn offset_maps_to_the_deepest_key() {
        let m = map();
        let off = TEXT.find("0\n").unwrap();
        assert_eq!(m.key_at(off), Some("cameras[1].fps"));
        let off = TEXT.find("\"b\"").unwrap();
        assert_eq!(m.key_at(off), Some("server.listen[1]"));
        let off = TEXT.find("max_clients").unwrap();
        assert_eq!(m.key_at(off), Some("server.max_clients"));
    }

    #[test]
    fn position_counts_lines_and_characters() {
        assert_eq!(position("a\nbé c", 6), (2, 4));
        assert_eq!(position("abc", 0), (1, 1));
        assert_eq!(position("abc", 99), (1, 4));
    }
}
