//! A JSON parser that accepts and rejects exactly what CPython 3.11's `json.loads(str)` does,
//! reports the same error messages at the same positions, and keeps byte spans of every value
//! and key so warnings can point into the editor buffer.
//!
//! No crate gives both CPython-identical errors and spans, so this mirrors the C scanner of
//! CPython's `_json` module (`scan_once_unicode`, `scanstring_unicode`, `_match_number_unicode`)
//! branch for branch. It works on UTF-8 bytes; every decision CPython makes on code points is
//! made here on ASCII bytes, which gives the same result, and positions are converted to code
//! points only when an error is reported.
//!
//! Python semantics kept on purpose: `NaN`, `Infinity`, `-Infinity` and overflowing numbers
//! become floats, integers keep their digits (arbitrary precision), lone surrogate escapes are
//! allowed (strings are stored as WTF-8), and a duplicated key keeps the position of its first
//! occurrence with the value of its last (how a Python `dict` is filled).

use std::borrow::Cow;
use std::collections::HashMap;

/// Containers nested deeper than this fail the way CPython's `RecursionError` does when the
/// official verifier calls `json.loads` from a script (measured: 994 levels parse, 995 raise).
/// It also bounds the recursion of every walk over the tree, so no input overflows the stack.
pub(crate) const MAX_DEPTH: usize = 994;

/// CPython 3.11 refuses to convert integers with more digits than this
/// (`sys.get_int_max_str_digits()`), raising `ValueError` out of `json.loads`.
const INT_MAX_STR_DIGITS: usize = 4300;

/// A parsed value with the byte range of its text in the source.
#[derive(Debug, Clone)]
pub(crate) struct Node<'a> {
    pub value: Value<'a>,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Int(Int<'a>),
    Float(f64),
    Str(JStr<'a>),
    Array(Vec<Node<'a>>),
    Object(Object<'a>),
}

impl Value<'_> {
    /// `type(x).__name__` of the value Python's `json` would build.
    pub fn py_type_name(&self) -> &'static str {
        match self {
            Value::Null => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Array(_) => "list",
            Value::Object(_) => "dict",
        }
    }
}

/// An integer literal as written (`-?(0|[1-9][0-9]*)`); Python ints are unbounded, so the
/// digits are kept rather than squeezed into a machine integer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Int<'a> {
    pub text: &'a str,
}

impl<'a> Int<'a> {
    /// Python's `str(int)`: the literal, except that `-0` is plain `0`.
    pub fn py_str(&self) -> &'a str {
        if self.text == "-0" {
            "0"
        } else {
            self.text
        }
    }
}

/// A decoded JSON string. Stored as WTF-8 (UTF-8 that may also encode lone surrogates), since
/// Python strings can hold the lone surrogates that `\ud800`-style escapes produce.
#[derive(Debug, Clone)]
pub(crate) struct JStr<'a> {
    pub wtf8: Cow<'a, [u8]>,
    /// Some `\uXXXX` escape in the token decoded to a character >= U+0080 that is not a lone
    /// surrogate, i.e. re-saving with `ensure_ascii=False` would make it literal.
    pub non_ascii_escape: bool,
}

impl<'a> JStr<'a> {
    pub fn is(&self, s: &str) -> bool {
        *self.wtf8 == *s.as_bytes()
    }

    /// The code points, lone surrogates included.
    pub fn code_points(&self) -> CodePoints<'_> {
        CodePoints {
            bytes: &self.wtf8,
            pos: 0,
        }
    }

    /// The text with each lone surrogate replaced by U+FFFD (a Rust `String` cannot hold them).
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        match std::str::from_utf8(&self.wtf8) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => Cow::Owned(
                self.code_points()
                    .map(|cp| char::from_u32(cp).unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
            ),
        }
    }
}

/// Iterator over the code points of WTF-8 bytes produced by this parser.
#[derive(Debug, Clone)]
pub(crate) struct CodePoints<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl Iterator for CodePoints<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let b = self.bytes;
        let i = self.pos;
        let b0 = *b.get(i)? as u32;
        // The bytes come from a &str or from `push_wtf8`, so sequences are well formed; `cont`
        // still avoids indexing past the end should that ever not hold.
        let cont = |k: usize| (b.get(i + k).copied().unwrap_or(0x80) & 0x3F) as u32;
        let (cp, len) = if b0 < 0x80 {
            (b0, 1)
        } else if b0 < 0xE0 {
            (((b0 & 0x1F) << 6) | cont(1), 2)
        } else if b0 < 0xF0 {
            (((b0 & 0x0F) << 12) | (cont(1) << 6) | cont(2), 3)
        } else {
            (
                ((b0 & 0x07) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3),
                4,
            )
        };
        self.pos = i + len;
        Some(cp)
    }
}

/// Appends one code point (surrogates allowed) in WTF-8.
pub(crate) fn push_wtf8(out: &mut Vec<u8>, cp: u32) {
    match char::from_u32(cp) {
        Some(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        // Only surrogates reach here (the parser never produces values above U+10FFFF).
        None => out.extend_from_slice(&[
            0xE0 | (cp >> 12) as u8,
            0x80 | ((cp >> 6) & 0x3F) as u8,
            0x80 | (cp & 0x3F) as u8,
        ]),
    }
}

/// A JSON object with Python `dict` semantics plus where its members sit in the source.
#[derive(Debug, Clone)]
pub(crate) struct Object<'a> {
    /// One entry per distinct key, in order of first occurrence.
    pub entries: Vec<Entry<'a>>,
    /// Byte offset where the first member's key starts (just after `{` if empty).
    pub members_start: usize,
    /// Byte offset where the last member's value ends.
    pub members_end: usize,
    /// Source text between the first and the second member (`,` and whitespace); empty range
    /// when there are fewer than two members.
    pub separator: (usize, usize),
    /// Some key occurs more than once (the earlier values are shadowed).
    pub has_duplicates: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    pub key: JStr<'a>,
    /// Byte range of the key token (quotes included) of the first occurrence.
    pub key_start: usize,
    pub key_end: usize,
    /// Where the first occurrence's value started: `key_end..value_start_first` is the colon
    /// and its whitespace.
    pub value_start_first: usize,
    /// The value of the last occurrence.
    pub value: Node<'a>,
}

impl<'a> Object<'a> {
    pub fn get(&self, key: &str) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| e.key.is(key))
    }

    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// Why parsing failed, with the byte offset it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseFailure {
    /// A `json.JSONDecodeError`; rendered as `{msg}: line L column C (char P)`.
    Decode { msg: &'static str, pos: usize },
    /// CPython raises `RecursionError` (not a decode error) for too deep nesting.
    TooDeep { array: bool, pos: usize },
    /// CPython raises `ValueError` for integers longer than 4300 digits.
    IntTooLong { digits: usize, pos: usize },
}

impl ParseFailure {
    pub fn pos(&self) -> usize {
        match *self {
            ParseFailure::Decode { pos, .. }
            | ParseFailure::TooDeep { pos, .. }
            | ParseFailure::IntTooLong { pos, .. } => pos,
        }
    }

    /// The text `str(exception)` gives in CPython 3.11.
    pub fn message(&self, src: &str) -> String {
        match *self {
            ParseFailure::Decode { msg, pos } => {
                let before = &src.as_bytes()[..pos.min(src.len())];
                let char_pos = count_code_points(before);
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                let col = match before.iter().rposition(|&b| b == b'\n') {
                    Some(nl) => count_code_points(&before[nl..]),
                    None => char_pos + 1,
                };
                format!("{msg}: line {line} column {col} (char {char_pos})")
            }
            ParseFailure::TooDeep { array, .. } => format!(
                "maximum recursion depth exceeded while decoding a JSON {} from a unicode string",
                if array { "array" } else { "object" }
            ),
            ParseFailure::IntTooLong { digits, .. } => format!(
                "Exceeds the limit ({INT_MAX_STR_DIGITS} digits) for integer string conversion: \
                 value has {digits} digits; use sys.set_int_max_str_digits() to increase the limit"
            ),
        }
    }
}

pub(crate) fn count_code_points(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

const EXPECTING_VALUE: &str = "Expecting value";

/// Bytes that end a run of plain string content: the closing quote, a backslash, and the
/// control characters CPython's strict mode rejects.
static STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        table[i] = true;
        i += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// `json.loads(src)` for a `str` argument.
pub(crate) fn parse(src: &str) -> Result<Node<'_>, ParseFailure> {
    if src.starts_with('\u{FEFF}') {
        return Err(ParseFailure::Decode {
            msg: "Unexpected UTF-8 BOM (decode using utf-8-sig)",
            pos: 0,
        });
    }
    let parser = Parser {
        src,
        b: src.as_bytes(),
    };
    let idx = parser.skip_ws(0);
    let node = parser.value(idx)?;
    let end = parser.skip_ws(node.end);
    if end != src.len() {
        return Err(ParseFailure::Decode {
            msg: "Extra data",
            pos: end,
        });
    }
    Ok(node)
}

struct Parser<'a> {
    src: &'a str,
    b: &'a [u8],
}

/// An array or object whose closing bracket has not been reached yet.
enum Frame<'a> {
    Array { start: usize, items: Vec<Node<'a>> },
    Object(ObjectFrame<'a>),
}

struct ObjectFrame<'a> {
    start: usize,
    obj: Object<'a>,
    /// Large objects find duplicate keys through a map; small ones (all real captions)
    /// through a scan, which is faster than hashing.
    index: Option<HashMap<Vec<u8>, usize>>,
    members: usize,
    /// The member whose value is being parsed.
    pending: PendingKey<'a>,
}

struct PendingKey<'a> {
    key: JStr<'a>,
    key_start: usize,
    key_end: usize,
    value_start: usize,
}

impl<'a> ObjectFrame<'a> {
    /// Adds the pending member with its value, as `dict.__setitem__` would.
    fn insert(&mut self, value: Node<'a>) {
        let obj = &mut self.obj;
        let key = std::mem::replace(
            &mut self.pending.key,
            JStr {
                wtf8: Cow::Borrowed(&[]),
                non_ascii_escape: false,
            },
        );
        if self.members == 1 {
            obj.separator = (obj.members_end, self.pending.key_start);
        }
        self.members += 1;
        obj.members_end = value.end;
        let existing = match &self.index {
            Some(map) => map.get(&*key.wtf8).copied(),
            None => obj.entries.iter().position(|e| e.key.wtf8 == key.wtf8),
        };
        match existing {
            // Python's dict keeps the first position and takes the last value.
            Some(i) => {
                obj.entries[i].value = value;
                obj.has_duplicates = true;
            }
            None => {
                if let Some(map) = &mut self.index {
                    map.insert(key.wtf8.to_vec(), obj.entries.len());
                }
                obj.entries.push(Entry {
                    key,
                    key_start: self.pending.key_start,
                    key_end: self.pending.key_end,
                    value_start_first: self.pending.value_start,
                    value,
                });
                if self.index.is_none() && obj.entries.len() >= 16 {
                    self.index = Some(
                        obj.entries
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (e.key.wtf8.to_vec(), i))
                            .collect(),
                    );
                }
            }
        }
    }
}

type Parsed<T> = Result<(T, usize), ParseFailure>;

impl<'a> Parser<'a> {
    fn skip_ws(&self, mut idx: usize) -> usize {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(idx) {
            idx += 1;
        }
        idx
    }

    fn literal_follows(&self, idx: usize, rest: &[u8]) -> bool {
        self.b.get(idx + 1..idx + 1 + rest.len()) == Some(rest)
    }

    /// `scan_once_unicode` and the object/array parsers it recurses into, run with an explicit
    /// stack of open containers so that nesting depth never touches the call stack.
    fn value(&self, idx: usize) -> Result<Node<'a>, ParseFailure> {
        let mut stack: Vec<Frame<'a>> = Vec::new();
        let mut idx = idx;
        loop {
            let mut done = match self.b.get(idx) {
                Some(&open @ (b'[' | b'{')) => {
                    let array = open == b'[';
                    if stack.len() >= MAX_DEPTH {
                        return Err(ParseFailure::TooDeep { array, pos: idx });
                    }
                    let inner = self.skip_ws(idx + 1);
                    let close = if array { b']' } else { b'}' };
                    if self.b.get(inner) == Some(&close) {
                        let value = if array {
                            Value::Array(Vec::new())
                        } else {
                            Value::Object(Object {
                                entries: Vec::new(),
                                members_start: inner,
                                members_end: inner,
                                separator: (inner, inner),
                                has_duplicates: false,
                            })
                        };
                        Node {
                            value,
                            start: idx,
                            end: inner + 1,
                        }
                    } else if array {
                        stack.push(Frame::Array {
                            start: idx,
                            // A bbox has four values.
                            items: Vec::with_capacity(4),
                        });
                        idx = inner;
                        continue;
                    } else {
                        let pending = self.member_key(inner)?;
                        let start = idx;
                        idx = pending.value_start;
                        stack.push(Frame::Object(ObjectFrame {
                            start,
                            obj: Object {
                                // Caption objects have up to six keys.
                                entries: Vec::with_capacity(6),
                                members_start: inner,
                                members_end: inner,
                                separator: (inner, inner),
                                has_duplicates: false,
                            },
                            index: None,
                            members: 0,
                            pending,
                        }));
                        continue;
                    }
                }
                _ => self.scalar(idx)?,
            };
            // Hand the finished value to the containers it closes, innermost first.
            loop {
                let Some(top) = stack.last_mut() else {
                    return Ok(done);
                };
                let after = self.skip_ws(done.end);
                let delimiter = self.b.get(after).copied();
                match top {
                    Frame::Array { items, .. } => {
                        items.push(done);
                        match delimiter {
                            Some(b']') => {}
                            Some(b',') => {
                                idx = self.skip_ws(after + 1);
                                break;
                            }
                            _ => {
                                return Err(ParseFailure::Decode {
                                    msg: "Expecting ',' delimiter",
                                    pos: after,
                                })
                            }
                        }
                    }
                    Frame::Object(frame) => {
                        frame.insert(done);
                        match delimiter {
                            Some(b'}') => {}
                            Some(b',') => {
                                frame.pending = self.member_key(self.skip_ws(after + 1))?;
                                idx = frame.pending.value_start;
                                break;
                            }
                            _ => {
                                return Err(ParseFailure::Decode {
                                    msg: "Expecting ',' delimiter",
                                    pos: after,
                                })
                            }
                        }
                    }
                }
                // The container is closed at `after`.
                done = match stack.pop() {
                    Some(Frame::Array { start, items }) => Node {
                        value: Value::Array(items),
                        start,
                        end: after + 1,
                    },
                    Some(Frame::Object(frame)) => Node {
                        value: Value::Object(frame.obj),
                        start: frame.start,
                        end: after + 1,
                    },
                    None => unreachable!("the loop only gets here with a frame on the stack"),
                };
            }
        }
    }

    /// A member's key, the `:` and the whitespace up to its value (`idx` is where the key
    /// must start).
    fn member_key(&self, idx: usize) -> Result<PendingKey<'a>, ParseFailure> {
        if self.b.get(idx) != Some(&b'"') {
            return Err(ParseFailure::Decode {
                msg: "Expecting property name enclosed in double quotes",
                pos: idx,
            });
        }
        let (key, key_end) = self.string(idx + 1)?;
        let colon = self.skip_ws(key_end);
        if self.b.get(colon) != Some(&b':') {
            return Err(ParseFailure::Decode {
                msg: "Expecting ':' delimiter",
                pos: colon,
            });
        }
        Ok(PendingKey {
            key,
            key_start: idx,
            key_end,
            value_start: self.skip_ws(colon + 1),
        })
    }

    /// Anything but an array or object starting at `idx`.
    fn scalar(&self, idx: usize) -> Result<Node<'a>, ParseFailure> {
        let Some(&first) = self.b.get(idx) else {
            // StopIteration(idx), which `raw_decode` turns into "Expecting value".
            return Err(ParseFailure::Decode {
                msg: EXPECTING_VALUE,
                pos: idx,
            });
        };
        let constant = |len: usize, value: Value<'a>| {
            Ok(Node {
                value,
                start: idx,
                end: idx + len,
            })
        };
        match first {
            b'"' => {
                let (s, end) = self.string(idx + 1)?;
                return Ok(Node {
                    value: Value::Str(s),
                    start: idx,
                    end,
                });
            }
            b'n' if self.literal_follows(idx, b"ull") => return constant(4, Value::Null),
            b't' if self.literal_follows(idx, b"rue") => return constant(4, Value::Bool(true)),
            b'f' if self.literal_follows(idx, b"alse") => return constant(5, Value::Bool(false)),
            b'N' if self.literal_follows(idx, b"aN") => return constant(3, Value::Float(f64::NAN)),
            b'I' if self.literal_follows(idx, b"nfinity") => {
                return constant(8, Value::Float(f64::INFINITY))
            }
            b'-' if self.literal_follows(idx, b"Infinity") => {
                return constant(9, Value::Float(f64::NEG_INFINITY))
            }
            _ => {}
        }
        let (value, end) = self.number(idx)?;
        Ok(Node {
            value,
            start: idx,
            end,
        })
    }

    /// Four hex digits at `at`, followed by at least one more character (CPython checks
    /// `end >= len` before decoding, so an escape that ends the input is invalid too).
    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.b.get(at..at + 4)?;
        if at + 4 >= self.b.len() {
            return None;
        }
        digits.iter().try_fold(0u32, |acc, &d| {
            let v = (d as char).to_digit(16)?;
            Some((acc << 4) | v)
        })
    }

    /// `scanstring_unicode`; `content_start` is just after the opening quote. Returns the
    /// decoded string and the offset just after the closing quote.
    fn string(&self, content_start: usize) -> Parsed<JStr<'a>> {
        let b = self.b;
        let begin = content_start - 1;
        let unterminated = ParseFailure::Decode {
            msg: "Unterminated string starting at",
            pos: begin,
        };
        let mut end = content_start;
        let mut owned: Option<Vec<u8>> = None;
        let mut non_ascii_escape = false;
        loop {
            let Some(offset) = b[end..].iter().position(|&d| STRING_STOP[usize::from(d)]) else {
                return Err(unterminated);
            };
            let mut next = end + offset;
            if b[next] < 0x20 {
                return Err(ParseFailure::Decode {
                    msg: "Invalid control character at",
                    pos: next,
                });
            }
            if b[next] == b'"' {
                let wtf8 = match owned {
                    None => Cow::Borrowed(&self.src.as_bytes()[content_start..next]),
                    Some(mut buf) => {
                        buf.extend_from_slice(&b[end..next]);
                        Cow::Owned(buf)
                    }
                };
                return Ok((
                    JStr {
                        wtf8,
                        non_ascii_escape,
                    },
                    next + 1,
                ));
            }
            let buf = owned.get_or_insert_with(|| Vec::with_capacity(next - content_start + 16));
            buf.extend_from_slice(&b[end..next]);
            next += 1;
            let Some(&c) = b.get(next) else {
                return Err(unterminated);
            };
            if c != b'u' {
                end = next + 1;
                let decoded = match c {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'b' => 0x08,
                    b'f' => 0x0C,
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    _ => {
                        return Err(ParseFailure::Decode {
                            msg: "Invalid \\escape",
                            pos: next - 1,
                        })
                    }
                };
                buf.push(decoded);
                continue;
            }
            let invalid_u = |pos| ParseFailure::Decode {
                msg: "Invalid \\uXXXX escape",
                pos,
            };
            let mut cp = self.hex4(next + 1).ok_or(invalid_u(next))?;
            end = next + 5;
            if (0xD800..=0xDBFF).contains(&cp) && b.get(end..end + 2) == Some(b"\\u") {
                // CPython decodes the following escape as a pair candidate whenever it is
                // long enough; bad digits there are reported at its 'u'. A non-low second
                // escape is left for the next iteration.
                let low = self.hex4(end + 2).ok_or(invalid_u(end + 1))?;
                if (0xDC00..=0xDFFF).contains(&low) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    end += 6;
                }
            }
            if cp >= 0x80 && !(0xD800..=0xDFFF).contains(&cp) {
                non_ascii_escape = true;
            }
            push_wtf8(buf, cp);
        }
    }

    /// `_match_number_unicode`.
    fn number(&self, start: usize) -> Parsed<Value<'a>> {
        let b = self.b;
        let len = b.len();
        let not_a_value = ParseFailure::Decode {
            msg: EXPECTING_VALUE,
            pos: start,
        };
        let is_digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
        let mut idx = start;
        if b.get(idx) == Some(&b'-') {
            idx += 1;
        }
        match b.get(idx) {
            Some(b'1'..=b'9') => {
                idx += 1;
                while is_digit(idx) {
                    idx += 1;
                }
            }
            Some(b'0') => idx += 1,
            _ => return Err(not_a_value),
        }
        let mut is_float = false;
        if b.get(idx) == Some(&b'.') && is_digit(idx + 1) {
            is_float = true;
            idx += 2;
            while is_digit(idx) {
                idx += 1;
            }
        }
        if idx + 1 < len && matches!(b[idx], b'e' | b'E') {
            let e_start = idx;
            idx += 1;
            if idx + 1 < len && matches!(b[idx], b'-' | b'+') {
                idx += 1;
            }
            while is_digit(idx) {
                idx += 1;
            }
            if b[idx - 1].is_ascii_digit() {
                is_float = true;
            } else {
                idx = e_start;
            }
        }
        let text = &self.src[start..idx];
        if is_float {
            // The matched text is always valid Rust float syntax; Rust, like Python's float(),
            // rounds correctly and overflows to infinity.
            let value = text.parse::<f64>().unwrap_or(f64::NAN);
            return Ok((Value::Float(value), idx));
        }
        let digits = text.len() - usize::from(text.starts_with('-'));
        if digits > INT_MAX_STR_DIGITS {
            return Err(ParseFailure::IntTooLong { digits, pos: start });
        }
        Ok((Value::Int(Int { text }), idx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(src: &str) -> String {
        match parse(src) {
            Ok(_) => panic!("{src:?} parsed"),
            Err(e) => e.message(src),
        }
    }

    // Expected strings below were produced by CPython 3.11.7: str(JSONDecodeError).
    #[test]
    fn decode_errors_match_cpython() {
        let cases: &[(&str, &str)] = &[
            ("", "Expecting value: line 1 column 1 (char 0)"),
            ("  ", "Expecting value: line 1 column 3 (char 2)"),
            ("[", "Expecting value: line 1 column 2 (char 1)"),
            (
                "{",
                "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
            ),
            ("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"),
            ("[1,]", "Expecting value: line 1 column 4 (char 3)"),
            (
                "{\"a\" 1}",
                "Expecting ':' delimiter: line 1 column 6 (char 5)",
            ),
            (
                "{\"a\":1,}",
                "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)",
            ),
            (
                "\"abc",
                "Unterminated string starting at: line 1 column 1 (char 0)",
            ),
            (
                "\"a\\",
                "Unterminated string starting at: line 1 column 1 (char 0)",
            ),
            (
                "\"a\nb\"",
                "Invalid control character at: line 1 column 3 (char 2)",
            ),
            ("\"\\x\"", "Invalid \\escape: line 1 column 2 (char 1)"),
            (
                "\"\\u12\"",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                "\"\\u0041",
                "Invalid \\uXXXX escape: line 1 column 3 (char 2)",
            ),
            (
                "\"\\ud800\\uzzzz\"",
                "Invalid \\uXXXX escape: line 1 column 9 (char 8)",
            ),
            ("1 2", "Extra data: line 1 column 3 (char 2)"),
            ("é x", "Expecting value: line 1 column 1 (char 0)"),
            (
                "[\"é\" x]",
                "Expecting ',' delimiter: line 1 column 6 (char 5)",
            ),
            (
                "{\n  \"a\": 1,\n  \"b\": oops\n}",
                "Expecting value: line 3 column 8 (char 19)",
            ),
            ("-", "Expecting value: line 1 column 1 (char 0)"),
            ("-x", "Expecting value: line 1 column 1 (char 0)"),
            ("01", "Extra data: line 1 column 2 (char 1)"),
            ("1.", "Extra data: line 1 column 2 (char 1)"),
            ("1e", "Extra data: line 1 column 2 (char 1)"),
            ("1e+", "Extra data: line 1 column 2 (char 1)"),
            ("nul", "Expecting value: line 1 column 1 (char 0)"),
            ("-Infinit", "Expecting value: line 1 column 1 (char 0)"),
            (
                "\u{feff}{}",
                "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
            ),
        ];
        for (src, expected) in cases {
            assert_eq!(err(src), *expected, "input {src:?}");
        }
    }

    #[test]
    fn python_values() {
        let node = parse("[NaN, Infinity, -Infinity, 1e999, -0, 1E2, true, null, \"\\ud800\"]")
            .expect("parses");
        let Value::Array(items) = node.value else {
            panic!("not an array")
        };
        assert!(matches!(items[0].value, Value::Float(f) if f.is_nan()));
        assert!(matches!(items[1].value, Value::Float(f) if f == f64::INFINITY));
        assert!(matches!(items[2].value, Value::Float(f) if f == f64::NEG_INFINITY));
        assert!(matches!(items[3].value, Value::Float(f) if f == f64::INFINITY));
        assert!(matches!(items[4].value, Value::Int(i) if i.py_str() == "0"));
        assert!(matches!(items[5].value, Value::Float(f) if f == 100.0));
        assert!(matches!(items[6].value, Value::Bool(true)));
        assert!(matches!(items[7].value, Value::Null));
        let Value::Str(s) = &items[8].value else {
            panic!("not a string")
        };
        assert_eq!(s.code_points().collect::<Vec<_>>(), vec![0xD800]);
        assert_eq!(s.to_str_lossy(), "\u{FFFD}");
    }

    #[test]
    fn surrogate_pairs_join_and_spans_are_bytes() {
        let src = "{\"k\": \"\\ud83d\\ude00é\", \"k\": 2}";
        let node = parse(src).expect("parses");
        let Value::Object(obj) = node.value else {
            panic!("not an object")
        };
        assert_eq!(obj.entries.len(), 1, "duplicate key collapses");
        let entry = &obj.entries[0];
        assert_eq!(&src[entry.key_start..entry.key_end], "\"k\"");
        assert!(matches!(entry.value.value, Value::Int(i) if i.text == "2"));
        let first = parse("\"\\ud83d\\ude00\"").expect("parses");
        let Value::Str(s) = first.value else {
            panic!("not a string")
        };
        assert_eq!(&*s.to_str_lossy(), "😀");
        assert!(s.non_ascii_escape);
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            err(&deep),
            "maximum recursion depth exceeded while decoding a JSON array from a unicode string"
        );
        let unclosed = "{\"a\":".repeat(100_000);
        assert!(err(&unclosed).starts_with("maximum recursion depth exceeded"));
    }

    #[test]
    fn huge_integers_hit_the_cpython_limit() {
        assert!(parse(&"7".repeat(4300)).is_ok());
        assert_eq!(
            err(&format!("-{}", "7".repeat(4301))),
            "Exceeds the limit (4300 digits) for integer string conversion: value has 4301 \
             digits; use sys.set_int_max_str_digits() to increase the limit"
        );
    }
}
