//! Where a warning points: source ranges in line:column form and JSON paths.

use std::fmt::Write;

use super::json::{count_code_points, JStr};

/// A range in the raw caption text.
///
/// Lines and columns are 1-based and count Unicode code points (not bytes, not terminal
/// cells); only `\n` starts a new line, as in CPython's `json` error positions. The end is
/// exclusive: `end_column` is the column just past the last code point, so an empty range
/// (an error at the end of the input) has `end == start`. `start_byte`/`end_byte` are the
/// same range as byte offsets into the UTF-8 text, for editors that index by byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub start_byte: usize,
    pub end_byte: usize,
}

/// Converts byte offsets to (line, column) for many offsets in one pass over the text.
pub(crate) fn resolve_spans(src: &str, ranges: &[(usize, usize)]) -> Vec<Span> {
    let bytes = src.as_bytes();
    let mut offsets: Vec<(usize, usize)> = Vec::with_capacity(ranges.len() * 2);
    for (i, &(start, end)) in ranges.iter().enumerate() {
        offsets.push((start.min(bytes.len()), 2 * i));
        offsets.push((end.min(bytes.len()).max(start.min(bytes.len())), 2 * i + 1));
    }
    offsets.sort_unstable();
    let mut positions = vec![(1usize, 1usize); offsets.len()];
    let (mut line, mut col, mut at) = (1usize, 1usize, 0usize);
    for &(offset, slot) in &offsets {
        // Counting in whole slices (rather than a byte-by-byte state machine) lets the
        // compiler vectorize: this runs over the whole text whenever there are warnings.
        let segment = &bytes[at..offset];
        let newlines = segment.iter().filter(|&&b| b == b'\n').count();
        if newlines == 0 {
            col += count_code_points(segment);
        } else {
            line += newlines;
            let last = segment.iter().rposition(|&b| b == b'\n').unwrap_or(0);
            col = 1 + count_code_points(&segment[last + 1..]);
        }
        at = offset;
        positions[slot] = (line, col);
    }
    ranges
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            let (line, column) = positions[2 * i];
            let (end_line, end_column) = positions[2 * i + 1];
            let start_byte = start.min(bytes.len());
            Span {
                line,
                column,
                end_line,
                end_column,
                start_byte,
                end_byte: end.min(bytes.len()).max(start_byte),
            }
        })
        .collect()
}

/// `path` + `.key` for identifier-like keys, else `['key']` (RFC 9535 normalized form).
pub(crate) fn child_key(path: &str, key: &JStr<'_>) -> String {
    let mut out = String::with_capacity(path.len() + key.wtf8.len() + 4);
    out.push_str(path);
    let ident = key
        .wtf8
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && key
            .wtf8
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if ident {
        out.push('.');
        out.push_str(&key.to_str_lossy());
        return out;
    }
    out.push_str("['");
    for cp in key.code_points() {
        match char::from_u32(cp) {
            Some('\'') => out.push_str("\\'"),
            Some('\\') => out.push_str("\\\\"),
            Some('\u{8}') => out.push_str("\\b"),
            Some('\u{c}') => out.push_str("\\f"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some(c) if cp >= 0x20 => out.push(c),
            _ => {
                let _ = write!(out, "\\u{cp:04x}");
            }
        }
    }
    out.push_str("']");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn key(s: &str) -> JStr<'_> {
        JStr {
            wtf8: Cow::Borrowed(s.as_bytes()),
            non_ascii_escape: false,
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            child_key("$", &key("style_description")),
            "$.style_description"
        );
        assert_eq!(child_key("$", &key("it's")), "$['it\\'s']");
        assert_eq!(child_key("$", &key("9lives")), "$['9lives']");
        assert_eq!(child_key("$", &key("a\nb")), "$['a\\nb']");
    }

    #[test]
    fn columns_count_code_points_and_only_lf_breaks_lines() {
        let src = "ab\néx\r\nz";
        let spans = resolve_spans(src, &[(0, 1), (3, 6), (8, 9), (9, 9)]);
        assert_eq!(
            (spans[0].line, spans[0].column, spans[0].end_column),
            (1, 1, 2)
        );
        assert_eq!(
            (spans[1].line, spans[1].column, spans[1].end_column),
            (2, 1, 3)
        );
        assert_eq!((spans[2].line, spans[2].column), (3, 1));
        assert_eq!(
            (spans[3].line, spans[3].column, spans[3].end_line),
            (3, 2, 3)
        );
        assert_eq!((spans[1].start_byte, spans[1].end_byte), (3, 6));
    }
}
