//! Robustness: arbitrary bytes and arbitrary JSON never panic, spans always lie inside the
//! text on character boundaries, formatting and fixing are stable, and nesting is bounded
//! (a warning, never a stack overflow).

use ideogram4::caption::fix::apply_fixes;
use ideogram4::caption::format::{minify, pretty};
use ideogram4::caption::{verify, Warning};
use proptest::prelude::*;

fn check_spans(raw: &str, warnings: &[Warning]) {
    for w in warnings {
        let s = w.span;
        assert!(
            s.start_byte <= s.end_byte && s.end_byte <= raw.len(),
            "{w:?}"
        );
        assert!(raw.is_char_boundary(s.start_byte) && raw.is_char_boundary(s.end_byte));
        assert!((s.line, s.column) <= (s.end_line, s.end_column), "{w:?}");
        let before = &raw[..s.start_byte];
        assert_eq!(s.line, before.matches('\n').count() + 1);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        assert_eq!(s.column, before[line_start..].chars().count() + 1);
        assert!(w.json_path.starts_with('$'));
    }
}

fn exercise(raw: &str) {
    let warnings = verify(raw);
    check_spans(raw, &warnings);
    let parsed = pretty(raw);
    assert_eq!(parsed.is_ok(), minify(raw).is_ok());
    assert_eq!(parsed.is_ok(), apply_fixes(raw).is_ok());
    let invalid = warnings
        .iter()
        .any(|w| w.message.starts_with("invalid JSON:"));
    assert_eq!(parsed.is_err(), invalid, "{raw:?}");
    if let Ok(p) = parsed {
        let m = minify(&p).expect("pretty output parses");
        assert_eq!(pretty(&m).expect("minified output parses"), p);
        let fixed = apply_fixes(raw).expect("parses");
        assert_eq!(apply_fixes(&fixed).expect("fixed parses"), fixed);
        // Fixing removes exactly the warnings marked fixable. A key order with a key missing
        // is still reordered as far as it goes, so the order it prints may change: that
        // message is compared by kind only.
        let blur = |m: &str| match m.find(": key order is (") {
            Some(at) => m[..at + ": key order".len()].to_owned(),
            None => m.to_owned(),
        };
        let expected: Vec<String> = warnings
            .iter()
            .filter(|w| !w.fixable)
            .map(|w| blur(&w.message))
            .collect();
        let after: Vec<String> = verify(&fixed).iter().map(|w| blur(&w.message)).collect();
        assert_eq!(after, expected, "fixing {raw:?} gave {fixed:?}");
    }
}

/// JSON text built from caption-like pieces, so the schema checks get deep coverage.
fn json_text() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "type",
        "bbox",
        "text",
        "desc",
        "color_palette",
        "aesthetics",
        "lighting",
        "photo",
        "art_style",
        "medium",
        "background",
        "elements",
        "style_description",
        "compositional_deconstruction",
        "high_level_description",
        "zz",
        "it's",
        "é",
    ]);
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("NaN".to_owned()),
        Just("-Infinity".to_owned()),
        Just("1e999".to_owned()),
        Just("\"obj\"".to_owned()),
        Just("\"text\"".to_owned()),
        Just("\"#abcdef\"".to_owned()),
        Just("\"#ABCDEF\"".to_owned()),
        Just("\"\\u00e9\\ud800\"".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        (0i64..1100).prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() {
            format!("{f:e}")
        } else {
            "0.5".into()
        }),
        "\\PC{0,8}".prop_map(|s| serde_json::to_string(&s).expect("string")),
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|members| {
                let body: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{}: {v}", serde_json::to_string(k).expect("key")))
                    .collect();
                format!("{{{}}}", body.join(",\n "))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn arbitrary_json_never_panics(text in json_text()) {
        exercise(&text);
    }

    #[test]
    fn mangled_json_never_panics(text in json_text(), cut in any::<prop::sample::Index>(), insert in "[\\[\\]{}\",:\\\\ ]{0,3}") {
        let at = cut.index(text.len() + 1);
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        exercise(&format!("{}{insert}{}", &text[..at], &text[at..]));
    }
}

#[test]
fn deep_nesting_is_a_warning_not_a_crash() {
    for depth in [993, 994, 995, 100_000] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            let raw = format!("{}0{}", open.repeat(depth), close.repeat(depth));
            let warnings = verify(&raw);
            let last = &warnings.last().expect("a warning").message;
            if depth <= 994 {
                assert!(!last.starts_with("invalid JSON"), "{depth}: {last}");
                exercise(&raw);
            } else {
                let kind = if open == "[" { "array" } else { "object" };
                assert_eq!(
                    *last,
                    format!("invalid JSON: maximum recursion depth exceeded while decoding a JSON {kind} from a unicode string")
                );
            }
        }
    }
    // Unclosed brackets are bounded the same way.
    let warnings = verify(&"[".repeat(1_000_000));
    assert!(warnings[0].message.contains("maximum recursion depth"));
}

#[test]
fn deep_palette_entries_render() {
    // A deeply nested palette entry is printed in full (Python's repr would recurse).
    let nested = format!("{}1{}", "[".repeat(900), "]".repeat(900));
    let raw = format!(
        "{{\"compositional_deconstruction\":{{\"background\":\"b\",\"elements\":[{{\"type\":\"obj\",\"desc\":\"d\",\"color_palette\":[{nested}]}}]}}}}"
    );
    let warnings = verify(&raw);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains(&nested.replace(',', ", ")));
}
