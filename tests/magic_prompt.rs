//! Magic prompt backends against a local server that answers like each real service: the
//! requests they send, how replies become verified captions, and every failure people hit.

mod magic_support;

use std::time::Duration;

use ideogram4::magic::{
    build_backend, expand, BackendKind, Cancel, ExpandOptions, Expansion, MagicConfig, MagicError,
};
use magic_support::*;

const KEY: &str = "sk-test-6f1d2a9b-secret";

fn config(kind: BackendKind, server: &FakeServer) -> MagicConfig {
    MagicConfig {
        backend: kind,
        base_url: Some(match kind {
            BackendKind::Ideogram => server.base(),
            _ => format!("{}/v1", server.base()),
        }),
        timeout_s: 5,
        ..MagicConfig::default()
    }
}

fn run(
    kind: BackendKind,
    server: &FakeServer,
    key: Option<&str>,
    keep_bboxes: bool,
) -> Result<Expansion, MagicError> {
    run_with(&config(kind, server), key, keep_bboxes, &Cancel::new())
}

fn run_with(
    config: &MagicConfig,
    key: Option<&str>,
    keep_bboxes: bool,
    cancel: &Cancel,
) -> Result<Expansion, MagicError> {
    let var = config.backend.key_var();
    let env = move |name: &str| (name == var).then(|| key.map(str::to_string)).flatten();
    let backend = build_backend(config, &env)?;
    let options = ExpandOptions {
        aspect_ratio: "16:9".into(),
        keep_bboxes,
    };
    expand(backend.as_ref(), "a red fox in the snow", &options, cancel)
}

fn error_text(e: &MagicError) -> String {
    let text = e.to_string();
    assert!(!text.contains(KEY), "the key leaked into an error: {text}");
    text
}

#[test]
fn openai_compatible_success_and_request_shape() {
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY)]);
    let got = run(BackendKind::OpenAi, &server, None, false).unwrap();
    assert_eq!(got.caption, GOOD_STRIPPED);
    assert!(got.warnings.is_empty());
    assert!(!got.retried);
    assert_eq!(got.backend, "openai local");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(r.header("authorization"), None, "no key, no header");
    let body = r.json();
    assert_eq!(body["model"], "local");
    assert_eq!(body["max_tokens"], 16384);
    assert_eq!(body["temperature"], 1.0);
    assert!(body.get("reasoning").is_none());
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[0]["content"]
        .as_str()
        .unwrap()
        .contains("compositional_deconstruction"));
    assert_eq!(messages[1]["role"], "user");
    assert_eq!(
        messages[1]["content"],
        "TARGET IMAGE ASPECT RATIO: 16:9 (width:height).\nUser idea: a red fox in the snow"
    );
}

#[test]
fn keep_bboxes_keeps_them_and_drops_only_aspect_ratio() {
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY)]);
    let got = run(BackendKind::OpenAi, &server, None, true).unwrap();
    assert_eq!(
        got.caption,
        GOOD_REPLY.replace(r#""aspect_ratio":"16:9","#, "")
    );
    assert!(got.warnings.is_empty());
}

#[test]
fn openrouter_sends_key_and_reasoning_and_unwraps_fences() {
    let fenced = format!("```json\n{GOOD_REPLY}\n```");
    let server = FakeServer::start(vec![chat_ok(&fenced)]);
    let got = run(BackendKind::OpenRouter, &server, Some(KEY), false).unwrap();
    assert_eq!(got.caption, GOOD_STRIPPED);
    assert_eq!(got.backend, "openrouter anthropic/claude-opus-4.8");
    let r = &server.requests()[0];
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = r.json();
    assert_eq!(body["reasoning"], serde_json::json!({"enabled": false}));
    assert_eq!(body["model"], "anthropic/claude-opus-4.8");
}

#[test]
fn prose_around_the_json_is_ignored() {
    let reply = format!(
        "Here is a caption for your idea:\n\n{GOOD_REPLY}\n\nLet me know if you want changes {{or not}}."
    );
    let server = FakeServer::start(vec![chat_ok(&reply)]);
    let got = run(BackendKind::OpenAi, &server, None, false).unwrap();
    assert_eq!(got.caption, GOOD_STRIPPED);
}

#[test]
fn fixable_warnings_are_fixed_without_a_retry() {
    // Wrong key order in an element and in style_description, a lowercase colour.
    let reply = GOOD_REPLY
        .replace(
            r#"{"type":"obj","bbox":[300,150,900,550],"desc":"a red fox sitting upright"}"#,
            r#"{"desc":"a red fox sitting upright","type":"obj"}"#,
        )
        .replace("#C0392B", "#c0392b")
        .replace(
            r#""photo":"85mm lens, f/2.8","medium":"photograph""#,
            r#""medium":"photograph","photo":"85mm lens, f/2.8""#,
        );
    let server = FakeServer::start(vec![chat_ok(&reply)]);
    let got = run(BackendKind::OpenAi, &server, None, false).unwrap();
    assert_eq!(got.caption, GOOD_STRIPPED);
    assert!(got.warnings.is_empty());
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn an_invalid_caption_gets_one_retry_with_the_verifier_messages() {
    let bad = GOOD_REPLY.replace(r#""photo":"85mm lens, f/2.8","#, "");
    let server = FakeServer::start(vec![chat_ok(&bad), chat_ok(GOOD_REPLY)]);
    let got = run(BackendKind::OpenAi, &server, None, false).unwrap();
    assert!(got.retried);
    assert_eq!(got.caption, GOOD_STRIPPED);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    let messages = reqs[1].json()["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 4);
    assert_eq!(messages[2]["role"], "assistant");
    assert_eq!(messages[2]["content"], bad.as_str());
    let feedback = messages[3]["content"].as_str().unwrap();
    assert!(
        feedback.contains("- style_description: expected one of 'photo' (for photo captions) or 'art_style' (for non-photo captions)"),
        "{feedback}"
    );
}

#[test]
fn problems_left_after_the_retry_are_reported_not_fatal() {
    let bad = r#"{"high_level_description":"A fox.","compositional_deconstruction":{"background":"snow"}}"#;
    let server = FakeServer::start(vec![chat_ok(bad)]);
    let got = run(BackendKind::OpenAi, &server, None, false).unwrap();
    assert!(got.retried);
    assert_eq!(server.requests().len(), 2);
    let messages: Vec<&str> = got.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        messages,
        ["compositional_deconstruction: 'elements' must exist"]
    );
    assert_eq!(got.caption, bad);
}

#[test]
fn invalid_json_in_the_reply_is_a_verifier_message() {
    let truncated = &GOOD_REPLY[..GOOD_REPLY.len() - 20];
    let server = FakeServer::start(vec![chat_ok(truncated)]);
    let got = run(BackendKind::OpenAi, &server, None, false).unwrap();
    assert!(got.retried);
    assert!(
        got.warnings[0].message.starts_with("invalid JSON: "),
        "{:?}",
        got.warnings
    );
}

#[test]
fn a_reply_without_json_quotes_its_first_200_characters() {
    let reply = format!("I'm sorry, I can't help with that. {}", "x".repeat(400));
    let server = FakeServer::start(vec![chat_ok(&reply)]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    assert!(matches!(e, MagicError::NotJson { .. }));
    let text = error_text(&e);
    let quoted: String = reply.chars().take(200).collect();
    assert!(text.contains(&quoted), "{text}");
    assert!(!text.contains(&reply[..201]), "{text}");
}

#[test]
fn ideogram_api_request_and_key_reordering() {
    // Server-side keys come back in another order; the caption is reordered and stripped.
    let prompt = r##"{"aspect_ratio": "16:9", "compositional_deconstruction": {"elements": [{"desc": "a red fox sitting upright", "bbox": [300, 150, 900, 550], "type": "obj"}], "background": "a snowy forest clearing under a pale sky"}, "high_level_description": "A red fox in snow.", "style_description": {"medium": "photograph", "photo": "85mm lens", "lighting": "soft", "aesthetics": "calm"}}"##;
    let server = FakeServer::start(vec![ideogram_ok(prompt)]);
    let got = run(BackendKind::Ideogram, &server, Some(KEY), false).unwrap();
    assert_eq!(
        got.caption,
        r#"{"high_level_description":"A red fox in snow.","style_description":{"aesthetics":"calm","lighting":"soft","photo":"85mm lens","medium":"photograph"},"compositional_deconstruction":{"background":"a snowy forest clearing under a pale sky","elements":[{"type":"obj","desc":"a red fox sitting upright"}]}}"#
    );
    assert!(got.warnings.is_empty());
    assert_eq!(got.backend, "ideogram ideogram-4-v1");
    let r = &server.requests()[0];
    assert_eq!(r.path, "/v1/ideogram-v4/magic-prompt");
    assert_eq!(r.header("api-key"), Some(KEY));
    assert_eq!(
        r.json(),
        serde_json::json!({"text_prompt": "a red fox in the snow", "aspect_ratio": "16x9"})
    );
}

#[test]
fn ideogram_without_json_prompt() {
    let server = FakeServer::start(vec![Canned::new(200, r#"{"aspect_ratio": "16x9"}"#)]);
    let e = run(BackendKind::Ideogram, &server, Some(KEY), false).unwrap_err();
    assert!(matches!(e, MagicError::NoJsonPrompt { .. }), "{e}");
}

#[test]
fn missing_keys_name_the_variable() {
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY)]);
    let e = run(BackendKind::Ideogram, &server, None, false).unwrap_err();
    assert!(error_text(&e).contains("set IDEOGRAM_API_KEY"), "{e}");
    let e = run(BackendKind::OpenRouter, &server, None, false).unwrap_err();
    assert!(error_text(&e).contains("set MAGIC_PROMPT_API_KEY"), "{e}");
    assert!(
        server.requests().is_empty(),
        "nothing is sent without a key"
    );
}

#[test]
fn refused_keys_name_the_variable_and_never_the_key() {
    for status in [401, 403] {
        // Servers sometimes echo what they were sent.
        let server = FakeServer::start(vec![api_error(status, &format!("bad key {KEY}"))]);
        let e = run(BackendKind::OpenRouter, &server, Some(KEY), false).unwrap_err();
        let text = error_text(&e);
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        assert!(text.contains("check MAGIC_PROMPT_API_KEY"), "{text}");
        let e = run(BackendKind::Ideogram, &server, Some(KEY), false).unwrap_err();
        assert!(error_text(&e).contains("check IDEOGRAM_API_KEY"), "{e}");
    }
}

#[test]
fn rate_limit_waits_once_then_succeeds() {
    let server = FakeServer::start(vec![
        api_error(429, "slow down").header("Retry-After", "1"),
        chat_ok(GOOD_REPLY),
    ]);
    let got = run(BackendKind::OpenRouter, &server, Some(KEY), false).unwrap();
    assert_eq!(got.caption, GOOD_STRIPPED);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn rate_limit_twice_is_an_error() {
    let server = FakeServer::start(vec![api_error(429, "slow down").header("Retry-After", "1")]);
    let e = run(BackendKind::OpenRouter, &server, Some(KEY), false).unwrap_err();
    assert_eq!(
        e,
        MagicError::RateLimited {
            url: format!("{}/v1/chat/completions", server.base()),
            retry_after: Some(1),
            waited: true
        }
    );
    assert!(error_text(&e).contains("HTTP 429"));
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn rate_limit_with_a_long_retry_after_fails_at_once() {
    let server = FakeServer::start(vec![api_error(429, "later").header("Retry-After", "3600")]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    let text = error_text(&e);
    assert!(text.contains("asks to wait 3600 s"), "{text}");
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn server_errors_quote_the_body() {
    for status in [500, 502, 503] {
        let server = FakeServer::start(vec![api_error(status, "upstream overloaded")]);
        let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
        assert!(matches!(e, MagicError::Server { .. }), "{e}");
        let text = error_text(&e);
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        assert!(text.contains("upstream overloaded"), "{text}");
    }
    let server = FakeServer::start(vec![api_error(404, "no such model")]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    assert!(error_text(&e).contains("HTTP 404"), "{e}");
}

#[test]
fn connection_refused_names_the_url() {
    let port = closed_port();
    let config = MagicConfig {
        backend: BackendKind::OpenAi,
        base_url: Some(format!("http://127.0.0.1:{port}/v1")),
        timeout_s: 5,
        ..MagicConfig::default()
    };
    let e = run_with(&config, None, false, &Cancel::new()).unwrap_err();
    let text = error_text(&e);
    assert!(
        text.contains(&format!(
            "cannot connect to http://127.0.0.1:{port}/v1/chat/completions: connection refused"
        )),
        "{text}"
    );
}

#[test]
fn malformed_json_quotes_the_start_of_the_body() {
    let html = format!(
        "<html><body>502 Bad Gateway{}</body></html>",
        " ".repeat(500)
    );
    let server = FakeServer::start(vec![Canned::new(200, html)]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    assert!(matches!(e, MagicError::MalformedResponse { .. }), "{e}");
    assert!(error_text(&e).contains("the response is not JSON"), "{e}");
    assert!(
        error_text(&e).contains("<html><body>502 Bad Gateway"),
        "{e}"
    );
    let server = FakeServer::start(vec![Canned::new(200, "not json at all")]);
    let e = run(BackendKind::Ideogram, &server, Some(KEY), false).unwrap_err();
    assert!(matches!(e, MagicError::MalformedResponse { .. }), "{e}");
}

#[test]
fn empty_choices_and_empty_content() {
    let server = FakeServer::start(vec![Canned::new(200, r#"{"choices": []}"#)]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    assert!(error_text(&e).contains("no choices"), "{e}");
    let server = FakeServer::start(vec![Canned::new(200, r#"{"id": "x"}"#)]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    assert!(matches!(e, MagicError::NoChoices { .. }), "{e}");
    let server = FakeServer::start(vec![chat_ok("  ")]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    assert!(matches!(e, MagicError::EmptyContent { .. }), "{e}");
    let server = FakeServer::start(vec![Canned::new(
        200,
        r#"{"choices": [{"message": {"role": "assistant", "content": null}}]}"#,
    )]);
    let e = run(BackendKind::OpenAi, &server, None, false).unwrap_err();
    assert!(error_text(&e).contains("empty message"), "{e}");
}

#[test]
fn a_slow_server_times_out() {
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY).delayed(Duration::from_secs(4))]);
    let mut config = config(BackendKind::OpenAi, &server);
    config.timeout_s = 1;
    let e = run_with(&config, None, false, &Cancel::new()).unwrap_err();
    assert!(matches!(e, MagicError::Timeout { seconds: 1, .. }), "{e}");
    assert!(error_text(&e).contains("no answer within 1 s"), "{e}");
}

#[test]
fn cancel_returns_while_the_request_is_in_flight() {
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY).delayed(Duration::from_secs(4))]);
    let config = config(BackendKind::OpenAi, &server);
    let cancel = Cancel::new();
    let c = cancel.clone();
    let worker = std::thread::spawn(move || run_with(&config, None, false, &c));
    // Wait until the request has arrived, so the cancel hits a request in flight.
    while server.requests().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    cancel.cancel();
    assert_eq!(worker.join().unwrap().unwrap_err(), MagicError::Cancelled);
}
