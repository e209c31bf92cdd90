//! Python's `repr()` / `str()` of the values that end up inside the official verifier's
//! messages (f-strings over keys, key lists and tuples, bbox lists, palette entries), so the
//! messages come out byte-identical.

use std::fmt::Write;

use super::json::{JStr, Node, Value};
use super::printable::is_printable;

/// `repr(s)` for a string given as code points (lone surrogates allowed).
pub(crate) fn repr_code_points<I>(out: &mut String, cps: I)
where
    I: Iterator<Item = u32> + Clone,
{
    let (mut single, mut double) = (false, false);
    for cp in cps.clone() {
        single |= cp == u32::from(b'\'');
        double |= cp == u32::from(b'"');
    }
    let quote = if single && !double { '"' } else { '\'' };
    out.push(quote);
    for cp in cps {
        match char::from_u32(cp) {
            Some(c) if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            Some('\t') => out.push_str("\\t"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some(c) if cp < 0x20 || cp == 0x7F => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            Some(c) if cp < 0x7F || is_printable(cp) => out.push(c),
            // Not printable (surrogates included, which is why this works on u32).
            _ if cp <= 0xFF => {
                let _ = write!(out, "\\x{cp:02x}");
            }
            _ if cp <= 0xFFFF => {
                let _ = write!(out, "\\u{cp:04x}");
            }
            _ => {
                let _ = write!(out, "\\U{cp:08x}");
            }
        }
    }
    out.push(quote);
}

pub(crate) fn repr_jstr(out: &mut String, s: &JStr<'_>) {
    if !plain_ascii_repr(out, &s.wtf8) {
        repr_code_points(out, s.code_points());
    }
}

pub(crate) fn repr_str(out: &mut String, s: &str) {
    if !plain_ascii_repr(out, s.as_bytes()) {
        repr_code_points(out, s.chars().map(u32::from));
    }
}

/// The common case, printable ASCII with no quote or backslash, is `'` + text + `'`.
fn plain_ascii_repr(out: &mut String, bytes: &[u8]) -> bool {
    let plain = bytes
        .iter()
        .all(|&b| (0x20..0x7F).contains(&b) && b != b'\'' && b != b'\\');
    // Printable ASCII is valid UTF-8.
    match std::str::from_utf8(bytes) {
        Ok(text) if plain => {
            out.push('\'');
            out.push_str(text);
            out.push('\'');
            true
        }
        _ => false,
    }
}

/// `repr(list_of_strings)`: `['a', 'b']`.
pub(crate) fn repr_key_list<'k, I>(out: &mut String, keys: I)
where
    I: IntoIterator<Item = &'k JStr<'k>>,
{
    out.push('[');
    push_separated(out, keys, repr_jstr);
    out.push(']');
}

/// Each item through `repr`, separated by `, ` as Python's reprs are; returns the count.
fn push_separated<T>(
    out: &mut String,
    items: impl IntoIterator<Item = T>,
    mut repr: impl FnMut(&mut String, T),
) -> usize {
    let mut count = 0;
    for item in items {
        if count > 0 {
            out.push_str(", ");
        }
        repr(out, item);
        count += 1;
    }
    count
}

/// `repr(tuple_of_strings)`: `('a', 'b')`, `('a',)`, `()`.
pub(crate) fn repr_tuple<'k, I>(out: &mut String, items: I)
where
    I: IntoIterator<Item = TupleItem<'k>>,
{
    out.push('(');
    let count = push_separated(out, items, |out, item| match item {
        TupleItem::Key(k) => repr_jstr(out, k),
        TupleItem::Name(s) => repr_str(out, s),
    });
    if count == 1 {
        out.push(',');
    }
    out.push(')');
}

#[derive(Clone, Copy)]
pub(crate) enum TupleItem<'k> {
    Key(&'k JStr<'k>),
    Name(&'k str),
}

/// `repr(x)` for any parsed JSON value, as Python would print the object `json.loads` built.
pub(crate) fn repr_value(out: &mut String, node: &Node<'_>) {
    match &node.value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => out.push_str(i.py_str()),
        Value::Float(f) => float_repr(out, *f),
        Value::Str(s) => repr_jstr(out, s),
        Value::Array(items) => {
            out.push('[');
            push_separated(out, items, repr_value);
            out.push(']');
        }
        Value::Object(obj) => {
            out.push('{');
            push_separated(out, &obj.entries, |out, entry| {
                repr_jstr(out, &entry.key);
                out.push_str(": ");
                repr_value(out, &entry.value);
            });
            out.push('}');
        }
    }
}

/// `str(x)`: like `repr` except that a string is inserted as is (lone surrogates become
/// U+FFFD, which a Rust `String` needs).
pub(crate) fn str_value(out: &mut String, node: &Node<'_>) {
    match &node.value {
        Value::Str(s) => out.push_str(&s.to_str_lossy()),
        _ => repr_value(out, node),
    }
}

/// `repr(float)`: the shortest digits that round-trip, in fixed notation when the decimal
/// exponent is in [-4, 16) (with `.0` for integral values), otherwise `1e+20` / `1.5e-07`.
pub(crate) fn float_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    if x == 0.0 {
        out.push_str("0.0");
        return;
    }
    // Rust's `{:e}` prints the same shortest round-trip digits as Python's repr (both choose
    // the shortest string, and among those the closest to the exact value).
    let sci = format!("{:e}", x.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.abs());
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-decpt) as usize));
        out.push_str(&digits);
    } else if decpt >= n {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (decpt - n) as usize));
        out.push_str(".0");
    } else {
        out.push_str(&digits[..decpt as usize]);
        out.push('.');
        out.push_str(&digits[decpt as usize..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caption::json::parse;

    fn float(x: f64) -> String {
        let mut s = String::new();
        float_repr(&mut s, x);
        s
    }

    fn repr(s: &str) -> String {
        let mut out = String::new();
        repr_str(&mut out, s);
        out
    }

    fn value(src: &str) -> String {
        let mut out = String::new();
        repr_value(&mut out, &parse(src).expect("valid JSON"));
        out
    }

    // Expected strings: CPython 3.11.7 repr().
    #[test]
    fn floats_like_python() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e20, "1e+20"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (2.5e-5, "2.5e-05"),
            (123.456, "123.456"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, expected) in cases {
            assert_eq!(float(*x), *expected, "{x:e}");
        }
    }

    #[test]
    fn strings_like_python() {
        assert_eq!(repr("abc"), "'abc'");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(repr("x\ny\té"), "'x\\ny\\té'");
        assert_eq!(repr("\u{7f}\u{1}\\"), "'\\x7f\\x01\\\\'");
        assert_eq!(
            repr("\u{a0}\u{ad}\u{2028}\u{e0000}"),
            "'\\xa0\\xad\\u2028\\U000e0000'"
        );
        assert_eq!(repr("日本語 😀"), "'日本語 😀'");
    }

    #[test]
    fn containers_like_python() {
        assert_eq!(value("[\"#000000\"]"), "['#000000']");
        assert_eq!(
            value("{\"a\": 1, \"b\": [true, null, 1.0]}"),
            "{'a': 1, 'b': [True, None, 1.0]}"
        );
        assert_eq!(value("{}"), "{}");
        assert_eq!(value("\"\\ud800\""), "'\\ud800'");
        assert_eq!(value("-0"), "0");
        assert_eq!(value("1E400"), "inf");
    }
}
