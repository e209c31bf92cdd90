//! Feeds arbitrary text to the caption verifier, the formatter and the fixer, and checks the
//! invariants the editor relies on (not just "no panic").
//!
//! The caption module is compiled in directly from the main crate's source: it depends on
//! nothing but `thiserror`, so the fuzz build needs neither MLX nor the rest of the crate.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/caption/mod.rs"]
mod caption;

/// A message reduced to its kind where fixing may legitimately change the text: a key order
/// with a key missing is still reordered as far as it goes, so the order it prints changes.
fn blur(message: &str) -> String {
    match message.find(": key order is (") {
        Some(at) => message[..at + ": key order".len()].to_owned(),
        None => message.to_owned(),
    }
}

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    // Any text wraps into a caption that is canonical and clean, bar the raw-text check,
    // which cannot tell a typed `\u00e9` from an escape.
    let wrapped = caption::wrap_plain_text(&raw);
    assert_eq!(
        caption::format::pretty(&wrapped).ok().as_ref(),
        Some(&wrapped)
    );
    assert!(caption::verify(&wrapped)
        .iter()
        .all(|w| w.message.starts_with("raw text:")));

    let warnings = caption::verify(&raw);
    for w in &warnings {
        let s = w.span;
        assert!(
            s.start_byte <= s.end_byte && s.end_byte <= raw.len(),
            "{w:?}"
        );
        assert!(raw.is_char_boundary(s.start_byte) && raw.is_char_boundary(s.end_byte));
        let before = &raw[..s.start_byte];
        assert_eq!(s.line, before.matches('\n').count() + 1, "{w:?}");
        assert!(w.json_path.starts_with('$'));
    }
    let invalid = warnings
        .iter()
        .any(|w| w.message.starts_with("invalid JSON:"));
    let pretty = caption::format::pretty(&raw);
    assert_eq!(pretty.is_err(), invalid);
    let Ok(pretty) = pretty else {
        assert!(caption::fix::apply_fixes(&raw).is_err());
        return;
    };
    let minified = caption::format::minify(&pretty).expect("pretty output parses");
    assert_eq!(
        caption::format::pretty(&minified).expect("minified parses"),
        pretty
    );

    let fixed = caption::fix::apply_fixes(&raw).expect("valid JSON fixes");
    assert_eq!(
        caption::fix::apply_fixes(&fixed).expect("fixed parses"),
        fixed
    );
    let expected: Vec<String> = warnings
        .iter()
        .filter(|w| !w.fixable)
        .map(|w| blur(&w.message))
        .collect();
    let after: Vec<String> = caption::verify(&fixed)
        .iter()
        .map(|w| blur(&w.message))
        .collect();
    assert_eq!(after, expected, "fixing {raw:?} gave {fixed:?}");
});
