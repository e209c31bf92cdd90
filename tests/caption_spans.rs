//! Where warnings point: JSON paths and line:column ranges (code points, end exclusive) for
//! representative warnings, on corpus files and small inline captions.

use std::fs;
use std::path::Path;

use ideogram4::caption::{verify, Warning};

fn corpus(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/verifier")
        .join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The warning whose message starts with `prefix`.
fn find<'w>(warnings: &'w [Warning], prefix: &str) -> &'w Warning {
    warnings
        .iter()
        .find(|w| w.message.starts_with(prefix))
        .unwrap_or_else(|| panic!("no warning starting with {prefix:?} in {warnings:#?}"))
}

/// The source text a warning covers, checked against its byte offsets.
fn covered<'r>(raw: &'r str, w: &Warning) -> &'r str {
    &raw[w.span.start_byte..w.span.end_byte]
}

fn position(w: &Warning) -> (usize, usize, usize, usize) {
    (
        w.span.line,
        w.span.column,
        w.span.end_line,
        w.span.end_column,
    )
}

#[test]
fn bbox_values_and_ranges() {
    let raw = corpus("bbox_out_of_range.json");
    let warnings = verify(&raw);
    let range = find(&warnings, "elements[0].bbox: values must be in");
    assert_eq!(
        range.json_path,
        "$.compositional_deconstruction.elements[0].bbox[0]"
    );
    assert_eq!(covered(&raw, range), "-5");
    let raw = corpus("bbox_min_gt_max.json");
    let warnings = verify(&raw);
    let inverted = find(&warnings, "elements[1].bbox: ymin");
    assert_eq!(
        inverted.json_path,
        "$.compositional_deconstruction.elements[1].bbox"
    );
    assert!(covered(&raw, inverted).starts_with('['));
    assert!(covered(&raw, inverted).ends_with(']'));
    assert!(
        inverted.span.end_line > inverted.span.line,
        "pretty bbox spans lines"
    );
}

#[test]
fn key_order_points_at_first_misplaced_key() {
    let raw = corpus("style_wrong_key_order_photo.json");
    let warnings = verify(&raw);
    let order = find(&warnings, "style_description: key order");
    assert_eq!(order.json_path, "$.style_description");
    assert_eq!(covered(&raw, order), "\"lighting\"");
    assert_eq!(position(order), (4, 5, 4, 15));
    assert!(order.fixable);
}

#[test]
fn missing_key_points_at_the_object() {
    let raw = r#"{"compositional_deconstruction": {"background": "b"}}"#;
    let warnings = verify(raw);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].json_path, "$.compositional_deconstruction");
    assert_eq!(covered(raw, &warnings[0]), r#"{"background": "b"}"#);
    assert_eq!(position(&warnings[0]), (1, 34, 1, 53));
}

#[test]
fn unknown_and_misplaced_keys_point_at_the_key() {
    let raw = "{\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[{\"type\":\"obj\",\"desc\":\"d\",\"z\":1}]}}";
    let warnings = verify(raw);
    let unknown = find(&warnings, "elements[0]: unknown keys");
    assert_eq!(
        unknown.json_path,
        "$.compositional_deconstruction.elements[0].z"
    );
    assert_eq!(covered(raw, unknown), "\"z\"");
    let extra = find(&warnings, "elements[0]: keys ['z']");
    assert_eq!(extra.span, unknown.span);
    assert!(!extra.fixable);
}

#[test]
fn odd_keys_use_bracket_paths() {
    let raw = r#"{"it's":1,"compositional_deconstruction":{"background":"b","elements":[]}}"#;
    let warnings = verify(raw);
    assert_eq!(warnings[0].json_path, "$['it\\'s']");
    assert_eq!(covered(raw, &warnings[0]), "\"it's\"");
}

#[test]
fn palette_entries_and_fixability() {
    let raw = corpus("bad_hex_misc.json");
    let warnings = verify(&raw);
    let paths: Vec<(&str, bool)> = warnings
        .iter()
        .map(|w| (w.json_path.as_str(), w.fixable))
        .collect();
    assert_eq!(
        paths,
        [
            ("$.style_description.color_palette[0]", false),
            ("$.style_description.color_palette[1]", true),
            ("$.style_description.color_palette[2]", false),
            ("$.style_description.color_palette[3]", false),
            ("$.style_description.color_palette[4]", false),
        ]
    );
    assert_eq!(covered(&raw, &warnings[1]), "\"FFFFFF\"");
    assert_eq!(covered(&raw, &warnings[4]), "null");
}

#[test]
fn columns_count_code_points() {
    // "日本" is two code points but six bytes before the bad value.
    let raw = "{\"high_level_description\":\"日本\",\"style_description\":1,\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[]}}";
    let warnings = verify(raw);
    let sd = find(&warnings, "style_description: expected a dict");
    assert_eq!(covered(raw, sd), "1");
    let chars_before = raw[..sd.span.start_byte].chars().count();
    assert_eq!(sd.span.column, chars_before + 1);
    assert_eq!(sd.span.start_byte, chars_before + 4);
}

#[test]
fn document_level_warnings() {
    // Invalid JSON points where CPython stopped, with the same line and column it prints.
    let raw = "{\n  \"a\": 1,\n  \"b\": oops\n}";
    let warnings = verify(raw);
    assert_eq!(
        warnings[0].message,
        "invalid JSON: Expecting value: line 3 column 8 (char 19)"
    );
    assert_eq!(warnings[0].json_path, "$");
    assert_eq!(position(&warnings[0]), (3, 8, 3, 9));

    // At the end of the input the range is empty.
    let warnings = verify("{\"a\": ");
    assert_eq!(position(&warnings[0]), (1, 7, 1, 7));
    assert_eq!(warnings[0].span.start_byte, warnings[0].span.end_byte);

    // The escape check points at the first escape.
    let raw = corpus("ensure_ascii_escapes_few.json");
    let warnings = verify(&raw);
    let escapes = find(&warnings, "raw text:");
    assert_eq!(covered(&raw, escapes), "\\u00c9");
    assert!(escapes.fixable);
}

#[test]
fn duplicate_keys_point_at_the_value_that_wins() {
    let raw = r#"{"compositional_deconstruction":{"background":"b","elements":[]},"compositional_deconstruction":5}"#;
    let warnings = verify(raw);
    assert_eq!(
        warnings[0].message,
        "compositional_deconstruction: expected a dict"
    );
    assert_eq!(covered(raw, &warnings[0]), "5");
}
