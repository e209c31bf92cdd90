//! Every case of both verifier corpora, message for message and in order, against what the
//! official `CaptionVerifier().verify_raw` returned under CPython 3.11.7.
//!
//! Corpora (copied from ../shared so the repository tests itself):
//! * `tests/fixtures/verifier/`: 45 raw caption files with `.expected.json`, described by
//!   `MANIFEST.json` (which lists the other frozenset order for hash-seed-dependent cases);
//! * `tests/fixtures/verifier_cases.json`: 82 inline cases from the spec.

use std::fs;
use std::path::{Path, PathBuf};

use ideogram4::caption::verify;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .expect("a list of warnings")
        .iter()
        .map(|m| m.as_str().expect("a warning string").to_owned())
        .collect()
}

fn messages(raw: &str) -> Vec<String> {
    verify(raw).into_iter().map(|w| w.message).collect()
}

/// Checks one case and describes the mismatch, if any.
fn check(name: &str, raw: &str, accepted: &[Vec<String>]) -> Option<String> {
    let got = messages(raw);
    if accepted.contains(&got) {
        return None;
    }
    Some(format!(
        "case {name}:\n  got      {got:#?}\n  expected {:#?}",
        accepted[0]
    ))
}

#[test]
fn fixture_corpus_matches_reference() {
    let dir = fixtures().join("verifier");
    let manifest = read_json(&dir.join("MANIFEST.json"));
    let cases = manifest["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 45, "the corpus has 45 cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let file = case["file"].as_str().expect("file");
        // Captions are UTF-8 without BOM and without CR, read as the generator read them.
        let raw = fs::read_to_string(dir.join(file)).expect("caption file");
        let mut accepted = vec![strings(&read_json(
            &dir.join(format!("{name}.expected.json")),
        ))];
        if let Some(alternatives) = case.get("alternative_expected") {
            accepted.extend(alternatives.as_array().expect("list").iter().map(strings));
        }
        assert_eq!(
            accepted[0].len() as u64,
            case["num_warnings"].as_u64().expect("num_warnings"),
            "manifest and expected file disagree for {name}"
        );
        failures.extend(check(name, &raw, &accepted));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn spec_cases_match_reference() {
    let data = read_json(&fixtures().join("verifier_cases.json"));
    let cases = data["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 82, "the spec lists 82 cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let raw = case["raw"].as_str().expect("raw");
        let accepted: Vec<Vec<String>> = if let Some(any) = case.get("expected_any_of") {
            any.as_array().expect("list").iter().map(strings).collect()
        } else if case.get("reference_raises").is_some() {
            // The reference crashes on an unhashable `type`; the spec asks a port to report
            // it like any other invalid type.
            ["'obj', 'text'", "'text', 'obj'"]
                .iter()
                .map(|set| {
                    vec![format!(
                        "elements[0]: 'type' must be one of frozenset({{{set}}})"
                    )]
                })
                .collect()
        } else {
            vec![strings(&case["expected"])]
        };
        failures.extend(check(name, raw, &accepted));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn python313_overrides_are_only_about_trailing_commas() {
    // We follow CPython 3.11 (the reference's version); the 3.13 texts must differ from ours
    // exactly in the trailing-comma cases the spec lists, and nowhere else.
    let data = read_json(&fixtures().join("verifier_cases.json"));
    let overrides = data["python313_overrides"].as_object().expect("overrides");
    for (name, py313) in overrides {
        let case = data["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .find(|c| c["name"] == *name)
            .unwrap_or_else(|| panic!("override {name} names no case"));
        let got = messages(case["raw"].as_str().expect("raw"));
        let py313 = strings(py313);
        assert_ne!(got, py313, "{name}");
        assert!(py313[0].contains("Illegal trailing comma"), "{name}");
    }
}
