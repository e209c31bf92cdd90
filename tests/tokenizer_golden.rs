//! Token ids against `golden/tokenizer.json` (made by the reference pipeline's `_tokenize`):
//! the tiny tokenizer of the tiny repos always; the real 11 MB Qwen3 tokenizer when
//! `../shared/fixtures/qwen3-tokenizer` is present (it is not copied into this repo).

use std::path::{Path, PathBuf};

use ideogram4::model::tokenizer::{chat_string, PromptTokenizer, TokenizerError, MAX_TEXT_TOKENS};
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> Vec<Value> {
    let path = root().join("tests/fixtures/golden/tokenizer.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"].as_array().unwrap().clone()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn tiny() -> PromptTokenizer {
    PromptTokenizer::from_checkpoint(&root().join("tests/fixtures/tiny-ideogram4-bf16")).unwrap()
}

fn qwen3_path() -> PathBuf {
    root().join("../shared/fixtures/qwen3-tokenizer/tokenizer.json")
}

#[test]
fn chat_rendering_matches_the_reference_template() {
    let cases = cases();
    assert_eq!(cases.len(), 12);
    for c in &cases {
        assert_eq!(
            chat_string(c["prompt"].as_str().unwrap()),
            c["chat_rendered"].as_str().unwrap(),
            "{}",
            c["label"]
        );
    }
}

#[test]
fn tiny_tokenizer_ids_match_golden() {
    let tok = tiny();
    for c in cases() {
        let got = tok.encode_prompt(c["prompt"].as_str().unwrap()).unwrap();
        assert_eq!(got, ids(&c["tiny_ids"]), "{}", c["label"]);
        assert_eq!(got.len() as u64, c["tiny_num_tokens"].as_u64().unwrap());
    }
}

#[test]
fn real_qwen3_tokenizer_ids_tokens_and_decoding_match_golden() {
    let path = qwen3_path();
    if !path.is_file() {
        eprintln!(
            "SKIP: {} is absent (the real Qwen3 tokenizer lives only in ../shared)",
            path.display()
        );
        return;
    }
    let tok = PromptTokenizer::from_file(&path).unwrap();
    for c in cases() {
        let label = c["label"].as_str().unwrap();
        let got = tok.encode_prompt(c["prompt"].as_str().unwrap()).unwrap();
        assert_eq!(got, ids(&c["qwen3_ids"]), "{label}");
        let tokens: Vec<String> = tok.tokens(&got).into_iter().map(Option::unwrap).collect();
        let want: Vec<String> = c["qwen3_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert_eq!(tokens, want, "{label}");
        assert_eq!(
            tok.decode(&got).unwrap(),
            c["qwen3_decoded"].as_str().unwrap(),
            "{label}"
        );
    }
    assert_eq!(tok.token_to_id("<|im_start|>"), Some(151644));
    assert_eq!(tok.token_to_id("<|image_pad|>"), Some(151655));
}

#[test]
fn over_2048_tokens_is_the_official_error() {
    let tok = tiny();
    // Digits are split one per token, so n digits are n tokens plus the template's own
    // (10 with the tiny vocabulary, whose merges spell "assistant" in 3 pieces).
    let overhead = tok.encode_prompt("").unwrap().len();
    assert_eq!(overhead, 10);
    let ok = "7".repeat(MAX_TEXT_TOKENS - overhead);
    assert_eq!(tok.encode_prompt(&ok).unwrap().len(), MAX_TEXT_TOKENS);
    let long = "7".repeat(MAX_TEXT_TOKENS - overhead + 1);
    let err = tok.encode_prompt(&long).unwrap_err();
    assert!(matches!(
        err,
        TokenizerError::TooLong {
            count: 2049,
            max: 2048
        }
    ));
    assert_eq!(
        err.to_string(),
        "prompt has 2049 tokens, exceeds max_text_tokens=2048"
    );
    assert_eq!(tok.count_prompt_tokens(&long).unwrap(), 2049);
}

#[test]
fn missing_or_broken_tokenizer_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = PromptTokenizer::from_checkpoint(dir.path()).unwrap_err();
    assert!(matches!(err, TokenizerError::Load { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    let bad = dir.path().join("tokenizer.json");
    std::fs::write(&bad, b"{\"not\": \"a tokenizer\"}").unwrap();
    assert!(matches!(
        PromptTokenizer::from_file(&bad),
        Err(TokenizerError::Load { .. })
    ));
}
