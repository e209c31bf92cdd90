//! Pretty-printing and minifying: byte-identical to CPython's `json.dumps` on the whole
//! corpus (goldens in `tests/fixtures/caption_format.json`), and stable round trips.

use std::fs;
use std::path::{Path, PathBuf};

use ideogram4::caption::format::{minify, pretty};
use ideogram4::caption::verify;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn spec_case(name: &str) -> String {
    let text = fs::read_to_string(fixtures().join("verifier_cases.json")).expect("spec cases");
    let data: Value = serde_json::from_str(&text).expect("json");
    data["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .and_then(|c| c["raw"].as_str())
        .unwrap_or_else(|| panic!("no spec case {name}"))
        .to_owned()
}

/// Every raw caption with its goldens.
fn golden_cases() -> Vec<(String, String, String, String)> {
    let text = fs::read_to_string(fixtures().join("caption_format.json")).expect("goldens");
    let data: Value = serde_json::from_str(&text).expect("json");
    data["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let (label, raw) = if let Some(file) = c["file"].as_str() {
                let raw = fs::read_to_string(fixtures().join("verifier").join(file))
                    .expect("caption file");
                (file.to_owned(), raw)
            } else if let Some(name) = c["case"].as_str() {
                (name.to_owned(), spec_case(name))
            } else {
                let raw = c["raw"].as_str().expect("raw").to_owned();
                (raw.clone(), raw)
            };
            let golden = |k: &str| c[k].as_str().expect("golden").to_owned();
            (label, raw, golden("pretty"), golden("minify"))
        })
        .collect()
}

#[test]
fn matches_python_json_dumps() {
    let cases = golden_cases();
    assert!(cases.len() > 100, "goldens cover the corpus");
    for (label, raw, want_pretty, want_minify) in cases {
        assert_eq!(
            pretty(&raw).expect("parses"),
            want_pretty,
            "pretty of {label}"
        );
        assert_eq!(
            minify(&raw).expect("parses"),
            want_minify,
            "minify of {label}"
        );
    }
}

#[test]
fn pretty_minify_pretty_is_stable_and_keeps_order_and_text() {
    for (label, raw, _, _) in golden_cases() {
        let p1 = pretty(&raw).expect("parses");
        let m = minify(&p1).expect("pretty output parses");
        let p2 = pretty(&m).expect("minified output parses");
        assert_eq!(p1, p2, "{label}");
        assert_eq!(minify(&raw).expect("parses"), m, "{label}");
        // Reformatting never changes what the verifier says, except the raw-text escape
        // check, which looks at spelling (escapes become literal characters).
        let schema_only = |text: &str| -> Vec<String> {
            verify(text)
                .into_iter()
                .map(|w| w.message)
                .filter(|m| !m.starts_with("raw text:"))
                .collect()
        };
        assert_eq!(schema_only(&raw), schema_only(&p1), "{label}");
    }
}

#[test]
fn non_ascii_stays_literal_and_order_is_kept() {
    let raw = "{\"zeta\":\"日本語\",\"alpha\":\"\\u00e9\\ud83d\\ude00\",\"mid\":[\"Ωμέγα\"]}";
    let p = pretty(raw).expect("parses");
    assert_eq!(
        p,
        "{\n  \"zeta\": \"日本語\",\n  \"alpha\": \"é😀\",\n  \"mid\": [\n    \"Ωμέγα\"\n  ]\n}"
    );
    assert_eq!(
        minify(&p).expect("parses"),
        "{\"zeta\":\"日本語\",\"alpha\":\"é😀\",\"mid\":[\"Ωμέγα\"]}"
    );
}

#[test]
fn invalid_json_is_an_error_with_cpython_text() {
    let err = pretty("{\"a\": 1,}").expect_err("trailing comma");
    assert_eq!(
        err.message,
        "Expecting property name enclosed in double quotes: line 1 column 9 (char 8)"
    );
    assert_eq!((err.span.line, err.span.column), (1, 9));
}
