//! Pretty-printing and minifying captions exactly as Python's `json.dumps` does with
//! `ensure_ascii=False` (and `indent=2`, or `separators=(",", ":")`): key order kept,
//! non-ASCII characters literal, duplicate keys collapsed the way `json.loads` collapses them.
//!
//! One unavoidable difference: a lone surrogate (from a `\ud800`-style escape) is written back
//! as an escape, where Python would emit the raw surrogate that no UTF-8 file can hold.

use std::fmt::Write;

use super::json::{self, JStr, Node, Value};
use super::pyrepr::float_repr;
use super::JsonError;

/// The caption re-serialized with 2-space indentation, as `json.dumps(obj, indent=2,
/// ensure_ascii=False)` would print it (no trailing newline).
pub fn pretty(raw: &str) -> Result<String, JsonError> {
    let root = json::parse(raw).map_err(|f| JsonError::from_failure(raw, &f))?;
    let mut out = String::with_capacity(raw.len() + raw.len() / 4);
    write_value(&mut out, &root, Some(2), 1);
    Ok(out)
}

/// The caption on one line with `,` and `:` separators and no spaces, as the prompting guide
/// recommends (`json.dumps(obj, separators=(",", ":"), ensure_ascii=False)`).
pub fn minify(raw: &str) -> Result<String, JsonError> {
    let root = json::parse(raw).map_err(|f| JsonError::from_failure(raw, &f))?;
    let mut out = String::with_capacity(raw.len());
    write_value(&mut out, &root, None, 1);
    Ok(out)
}

fn newline_indent(out: &mut String, indent: usize, level: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', indent * level));
}

/// Python's `_iterencode` with `item_separator=","` and `key_separator=": "` when indenting,
/// `":"` otherwise.
fn write_value(out: &mut String, node: &Node<'_>, indent: Option<usize>, level: usize) {
    match &node.value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Int(i) => out.push_str(i.py_str()),
        Value::Float(f) if f.is_nan() => out.push_str("NaN"),
        Value::Float(f) if f.is_infinite() => {
            out.push_str(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Value::Float(f) => float_repr(out, *f),
        Value::Str(s) => write_jstr(out, s),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(n) = indent {
                    newline_indent(out, n, level);
                }
                write_value(out, item, indent, level + 1);
            }
            if let Some(n) = indent {
                newline_indent(out, n, level - 1);
            }
            out.push(']');
        }
        Value::Object(obj) if obj.entries.is_empty() => out.push_str("{}"),
        Value::Object(obj) => {
            out.push('{');
            for (i, entry) in obj.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(n) = indent {
                    newline_indent(out, n, level);
                }
                write_jstr(out, &entry.key);
                out.push_str(if indent.is_some() { ": " } else { ":" });
                write_value(out, &entry.value, indent, level + 1);
            }
            if let Some(n) = indent {
                newline_indent(out, n, level - 1);
            }
            out.push('}');
        }
    }
}

fn write_jstr(out: &mut String, s: &JStr<'_>) {
    match std::str::from_utf8(&s.wtf8) {
        Ok(text) => write_json_string(out, text),
        Err(_) => write_code_points(out, s.code_points()),
    }
}

/// A JSON string literal as `json.dumps(..., ensure_ascii=False)` writes it: only `"`, `\`
/// and control characters are escaped.
pub(crate) fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.push_str(&s[plain_from..i]);
        push_escape(out, u32::from(b));
        plain_from = i + 1;
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

fn write_code_points(out: &mut String, cps: impl Iterator<Item = u32>) {
    out.push('"');
    for cp in cps {
        match char::from_u32(cp) {
            Some(c) if cp >= 0x20 && c != '"' && c != '\\' => out.push(c),
            _ => push_escape(out, cp),
        }
    }
    out.push('"');
}

fn push_escape(out: &mut String, cp: u32) {
    match cp {
        0x22 => out.push_str("\\\""),
        0x5C => out.push_str("\\\\"),
        0x0A => out.push_str("\\n"),
        0x0D => out.push_str("\\r"),
        0x09 => out.push_str("\\t"),
        0x08 => out.push_str("\\b"),
        0x0C => out.push_str("\\f"),
        _ => {
            let _ = write!(out, "\\u{cp:04x}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings: CPython 3.11.7 json.dumps(json.loads(src), ...).
    #[test]
    fn like_json_dumps() {
        let src = "{\"b\": [1, 2.50, -0, 1E400, NaN, {}, []], \"a\": \"é\\n\\u0001\\\"\", \"b\": {\"x\": null}}";
        assert_eq!(
            pretty(src).expect("valid"),
            "{\n  \"b\": {\n    \"x\": null\n  },\n  \"a\": \"é\\n\\u0001\\\"\"\n}"
        );
        let src = "[1, 2.50, -0, 1E400, -Infinity, NaN, {}, [], true, \"\\ud800\\u00e9\"]";
        assert_eq!(
            minify(src).expect("valid"),
            "[1,2.5,0,Infinity,-Infinity,NaN,{},[],true,\"\\ud800é\"]"
        );
        assert_eq!(
            minify("{} x").expect_err("invalid").message,
            "Extra data: line 1 column 4 (char 3)"
        );
    }
}
