//! Caption schema and verifier (no MLX).
//!
//! Ideogram 4 was trained on JSON captions of one strict shape, and the official pipeline
//! refuses prompts that its `CaptionVerifier` flags. [`verify`] reproduces that verifier on the
//! raw text: the same warnings, byte for byte, in the same order (including CPython's `json`
//! error messages), each with the JSON path and the source range it is about, so an editor can
//! underline it. It runs in microseconds, cheap enough for every keystroke.
//!
//! ```
//! use ideogram4::caption;
//!
//! let warnings = caption::verify(r#"{"compositional_deconstruction": {"background": "b"}}"#);
//! assert_eq!(warnings[0].message, "compositional_deconstruction: 'elements' must exist");
//! assert_eq!(warnings[0].json_path, "$.compositional_deconstruction");
//! assert_eq!((warnings[0].span.line, warnings[0].span.column), (1, 34));
//! ```
//!
//! Tooling for the editor lives beside it: [`format::pretty`] / [`format::minify`],
//! [`fix::apply_fixes`] (with [`Warning::fixable`] telling which warnings it removes) and
//! [`wrap_plain_text`].
//!
//! Where the reference itself crashes instead of warning, this port warns: a list or object as
//! an element `type` gets the usual "'type' must be one of" message, and nesting deeper than
//! CPython's recursion limit or integers longer than 4300 digits give `invalid JSON:` followed
//! by the text of the exception Python raises.

pub mod bbox;
mod escapes;
pub mod fix;
pub mod format;
pub mod input;
pub(crate) mod json;
mod printable;
mod pyrepr;
mod schema;
mod span;
mod template;

pub use span::Span;
pub use template::wrap_plain_text;

/// One problem the official verifier reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Exactly the official verifier's string.
    pub message: String,
    /// Where the offending value is, e.g. `$.compositional_deconstruction.elements[0].bbox`;
    /// `$` for problems with the whole text (the escape check, invalid JSON).
    pub json_path: String,
    /// The text it is about: the value, or the first offending key for key problems, or the
    /// object that lacks a required key. The escape check points at the first escape and
    /// invalid JSON at the character where parsing stopped (an empty range at the end of
    /// input).
    pub span: Span,
    /// [`fix::apply_fixes`] removes this warning (key order with no key missing, colours with
    /// an obvious canonical form, escapes that can become literal characters).
    pub fixable: bool,
}

/// The text is not JSON that Python's `json.loads` accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct JsonError {
    /// CPython's message, e.g. `Expecting ',' delimiter: line 1 column 14 (char 13)`.
    pub message: String,
    /// The character where parsing stopped (empty at the end of input).
    pub span: Span,
}

impl JsonError {
    fn from_failure(raw: &str, failure: &json::ParseFailure) -> Self {
        let range = char_range(raw, failure.pos());
        JsonError {
            message: failure.message(raw),
            span: span::resolve_spans(raw, &[range])[0],
        }
    }
}

/// The byte range of the character at `pos` (empty at the end).
fn char_range(raw: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(raw.len());
    let len = raw[pos..].chars().next().map_or(0, char::len_utf8);
    (pos, pos + len)
}

/// Every warning the official `CaptionVerifier().verify_raw(raw)` returns, in its order.
pub fn verify(raw: &str) -> Vec<Warning> {
    let mut drafts = Vec::new();
    let escape_warning = escapes::check(raw);
    let parsed = json::parse(raw);
    if let Some((message, range)) = escape_warning {
        drafts.push(schema::Draft {
            message,
            json_path: "$".into(),
            range,
            fixable: parsed.as_ref().is_ok_and(fix::escapes_fixable),
        });
    }
    match parsed {
        Ok(root) => drafts.extend(schema::check(&root)),
        Err(failure) => drafts.push(schema::Draft {
            message: format!("invalid JSON: {}", failure.message(raw)),
            json_path: "$".into(),
            range: char_range(raw, failure.pos()),
            fixable: false,
        }),
    }
    let ranges: Vec<(usize, usize)> = drafts.iter().map(|d| d.range).collect();
    let spans = span::resolve_spans(raw, &ranges);
    drafts
        .into_iter()
        .zip(spans)
        .map(|(d, span)| Warning {
            message: d.message,
            json_path: d.json_path,
            span,
            fixable: d.fixable,
        })
        .collect()
}
