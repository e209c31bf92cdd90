//! Mechanical fixes: on every corpus caption, exactly the warnings marked fixable disappear,
//! the others stay word for word, and fixing twice changes nothing more.

use std::fs;
use std::path::{Path, PathBuf};

use ideogram4::caption::fix::apply_fixes;
use ideogram4::caption::verify;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// (name, raw) of both corpora.
fn corpus() -> Vec<(String, String)> {
    let dir = fixtures().join("verifier");
    let mut cases = Vec::new();
    for entry in fs::read_dir(&dir).expect("corpus dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".expected.json") || name == "MANIFEST.json" {
            continue;
        }
        cases.push((name.to_owned(), fs::read_to_string(&path).expect("caption")));
    }
    let text = fs::read_to_string(fixtures().join("verifier_cases.json")).expect("spec cases");
    let data: Value = serde_json::from_str(&text).expect("json");
    for case in data["cases"].as_array().expect("cases") {
        cases.push((
            case["name"].as_str().expect("name").to_owned(),
            case["raw"].as_str().expect("raw").to_owned(),
        ));
    }
    assert_eq!(cases.len(), 45 + 82);
    cases
}

#[test]
fn fixes_remove_exactly_the_fixable_warnings() {
    let mut fixed_some = 0;
    for (name, raw) in corpus() {
        let before = verify(&raw);
        let Ok(fixed) = apply_fixes(&raw) else {
            assert!(
                before
                    .iter()
                    .any(|w| w.message.starts_with("invalid JSON:")),
                "{name}: apply_fixes failed on JSON the verifier accepts"
            );
            continue;
        };
        let expected: Vec<&str> = before
            .iter()
            .filter(|w| !w.fixable)
            .map(|w| w.message.as_str())
            .collect();
        let after: Vec<String> = verify(&fixed).into_iter().map(|w| w.message).collect();
        assert_eq!(after, expected, "{name}: fixed text\n{fixed}");
        assert_eq!(
            apply_fixes(&fixed).expect("fixed text parses"),
            fixed,
            "{name}: fixing is idempotent"
        );
        if before.iter().any(|w| w.fixable) {
            fixed_some += 1;
        } else if let Ok(value) = serde_json::from_str::<Value>(&raw) {
            // Only key order may change then (the root is put in schema order too, though
            // the verifier does not check it); serde_json's maps ignore order.
            let refixed: Value = serde_json::from_str(&fixed).expect("fixed text is JSON");
            assert_eq!(refixed, value, "{name}: nothing fixable, same content");
        }
    }
    assert!(
        fixed_some >= 10,
        "the corpus exercises the fixes ({fixed_some})"
    );
}

#[test]
fn reorder_keeps_formatting_and_nested_fixes() {
    let raw = r##"{
  "compositional_deconstruction": {
    "elements": [
      {
        "desc": "a sign",
        "text": "OPEN",
        "type": "text",
        "color_palette": ["#ff0000", "#abc"]
      }
    ],
    "background": "a wall"
  },
  "high_level_description": "A sign."
}"##;
    let fixed = apply_fixes(raw).expect("valid");
    assert_eq!(
        fixed,
        r##"{
  "high_level_description": "A sign.",
  "compositional_deconstruction": {
    "background": "a wall",
    "elements": [
      {
        "type": "text",
        "text": "OPEN",
        "desc": "a sign",
        "color_palette": ["#FF0000", "#AABBCC"]
      }
    ]
  }
}"##
    );
    assert!(verify(&fixed).is_empty());
}

#[test]
fn objects_with_duplicate_keys_are_not_reordered() {
    // Reordering would drop the shadowed member or change which value wins.
    let raw = r#"{"compositional_deconstruction":{"elements":[],"background":"first","background":"last"}}"#;
    let warnings = verify(raw);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("key order"));
    assert!(!warnings[0].fixable);
    assert_eq!(apply_fixes(raw).expect("valid"), raw);
}

#[test]
fn missing_keys_are_not_invented() {
    let raw = r#"{"style_description":{"photo":"p","aesthetics":"a","medium":"m"},"compositional_deconstruction":{"background":"b","elements":[]}}"#;
    let before = verify(raw);
    assert_eq!(before.len(), 1);
    assert!(
        !before[0].fixable,
        "lighting is missing: reordering cannot fix it"
    );
    let fixed = apply_fixes(raw).expect("valid");
    assert_eq!(
        fixed,
        r#"{"style_description":{"aesthetics":"a","photo":"p","medium":"m"},"compositional_deconstruction":{"background":"b","elements":[]}}"#
    );
}

#[test]
fn invalid_json_is_an_error() {
    let err = apply_fixes("{\"a\" 1}").expect_err("invalid");
    assert_eq!(
        err.message,
        "Expecting ':' delimiter: line 1 column 6 (char 5)"
    );
}
