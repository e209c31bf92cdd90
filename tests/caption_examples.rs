//! The starter captions in `examples/captions/` and the plain-text wrapper produce captions
//! the official verifier accepts.

use std::fs;
use std::path::Path;

use ideogram4::caption::format::pretty;
use ideogram4::caption::{verify, wrap_plain_text};

#[test]
fn starter_captions_verify_clean_and_are_canonical() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/captions");
    let mut names = Vec::new();
    for entry in fs::read_dir(&dir).expect("examples/captions") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let raw = fs::read_to_string(&path).expect("caption");
        let warnings = verify(&raw);
        assert!(warnings.is_empty(), "{}: {warnings:#?}", path.display());
        assert_eq!(
            pretty(&raw).expect("parses"),
            raw.trim_end(),
            "{} is written the way format::pretty writes it",
            path.display()
        );
        names.push(
            path.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_owned(),
        );
    }
    names.sort();
    assert_eq!(names, ["illustration", "layout", "photo", "poster"]);
}

#[test]
fn poster_has_text_in_several_scripts() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/captions/poster.json");
    let raw = fs::read_to_string(path).expect("poster");
    let caption: serde_json::Value = serde_json::from_str(&raw).expect("json");
    let texts: Vec<&str> = caption["compositional_deconstruction"]["elements"]
        .as_array()
        .expect("elements")
        .iter()
        .filter(|e| e["type"] == "text")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert!(texts.len() >= 3);
    let has = |range: std::ops::RangeInclusive<char>| {
        texts.iter().any(|t| t.chars().any(|c| range.contains(&c)))
    };
    assert!(has('A'..='Z'), "Latin");
    assert!(has('\u{4E00}'..='\u{9FFF}'), "CJK");
    assert!(has('\u{0600}'..='\u{06FF}'), "Arabic");
}

#[test]
fn wrapped_plain_text_verifies_clean() {
    for text in [
        "a cat wearing a tiny top hat",
        "",
        "  padded  \n",
        "quotes \" and \\ backslashes, tabs\tand\nnewlines",
        "日本語のテキスト 😀",
        "{\"looks\": \"like json\"}",
    ] {
        let caption = wrap_plain_text(text);
        assert!(verify(&caption).is_empty(), "{text:?} -> {caption}");
        assert_eq!(pretty(&caption).expect("parses"), caption);
        let value: serde_json::Value = serde_json::from_str(&caption).expect("json");
        assert_eq!(value["high_level_description"], text.trim());
    }
}
