//! The official verifier's first check, on the raw text before parsing: `\uXXXX` escapes of
//! non-ASCII characters with no literal non-ASCII anywhere usually mean the file was written
//! with `ensure_ascii=True`.

/// Byte range of every match of the official regular expression
/// `\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})`, found
/// left to right without overlap like `re.findall`. The three alternatives together accept
/// exactly the four-hex-digit values >= 0x80, and every match is six bytes long.
pub(crate) fn non_ascii_escapes(raw: &str) -> Vec<(usize, usize)> {
    let b = raw.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i + 6 <= b.len() {
        if b[i] == b'\\' && b[i + 1] == b'u' {
            let value = b[i + 2..i + 6].iter().try_fold(0u32, |acc, &d| {
                (d as char).to_digit(16).map(|v| (acc << 4) | v)
            });
            if value.is_some_and(|v| v >= 0x80) {
                found.push((i, i + 6));
                i += 6;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// The warning text and the range of the first match, or `None` when the check passes.
pub(crate) fn check(raw: &str) -> Option<(String, (usize, usize))> {
    // Any byte >= 0x80 in UTF-8 belongs to a character above U+007F.
    if !raw.is_ascii() {
        return None;
    }
    let matches = non_ascii_escapes(raw);
    let first = *matches.first()?;
    let mut distinct: Vec<&str> = matches.iter().map(|&(s, e)| &raw[s..e]).collect();
    // All matches are ASCII, so byte order is Python's code-point order.
    distinct.sort_unstable();
    distinct.dedup();
    let examples = distinct[..distinct.len().min(3)].join(", ");
    let more = if distinct.len() > 3 { ", ..." } else { "" };
    let message = format!(
        "raw text: found {} non-ASCII unicode escape(s) (e.g. {examples}{more}) and no literal \
         non-ASCII characters. This usually means the file was saved with ensure_ascii=True; \
         please re-save with json.dump(..., ensure_ascii=False) so non-ASCII characters are \
         stored as literal UTF-8. Note: this is a warning, not an error, because the escapes \
         could have been written intentionally \u{2014} we cannot tell from the file alone.",
        matches.len()
    );
    Some((message, first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_the_regex() {
        let raw = r#"\u0041 \u007f \u0080 \u00FF \u0100 \uffff \\u00e9 \u00e \uD800"#;
        let found: Vec<&str> = non_ascii_escapes(raw)
            .into_iter()
            .map(|(s, e)| &raw[s..e])
            .collect();
        assert_eq!(
            found,
            [r"\u0080", r"\u00FF", r"\u0100", r"\uffff", r"\u00e9", r"\uD800"]
        );
    }

    #[test]
    fn literal_non_ascii_suppresses() {
        assert!(check(r#"{"a": "\u00e9"}"#).is_some());
        assert!(check(r#"{"a": "\u00e9 é"}"#).is_none());
        assert!(check(r#"{"a": "\u0041"}"#).is_none());
    }
}
