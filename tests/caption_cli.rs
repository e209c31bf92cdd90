//! `ideogram4-tui verify`: exit codes, compiler-style and JSON output, stdin, `--fix`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/verifier")
        .join(name)
}

fn verify_cmd(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        // Keep test runs out of the user's real log file.
        .env("IDEOGRAM4_LOG", "off")
        .arg("verify")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ideogram4-tui");
    let mut pipe = child.stdin.take().expect("stdin");
    pipe.write_all(stdin.unwrap_or_default())
        .expect("write stdin");
    drop(pipe);
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn exit_codes() {
    let clean = corpus("valid_photo.json");
    let warned = corpus("bbox_min_gt_max.json");
    let missing = corpus("no_such_file.json");
    let code = |args: &[&str]| verify_cmd(args, None).status.code();
    assert_eq!(code(&[path_str(&clean)]), Some(0));
    assert_eq!(code(&[path_str(&warned)]), Some(1));
    assert_eq!(code(&[path_str(&missing)]), Some(2));
    assert_eq!(code(&[path_str(&clean), path_str(&warned)]), Some(1));
    assert_eq!(
        code(&[path_str(&warned), path_str(&missing), path_str(&clean)]),
        Some(2)
    );
}

#[test]
fn human_output_is_compiler_style() {
    let file = corpus("style_wrong_key_order_photo.json");
    let out = verify_cmd(&[path_str(&file)], None);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "{}:4:5: warning: style_description: key order is ('lighting', 'aesthetics', \
                 'photo', 'medium', 'color_palette'), expected ('aesthetics', 'lighting', \
                 'photo', 'medium', 'color_palette')",
                file.display()
            )
            .as_str()
        )
    );
    assert_eq!(
        lines.next(),
        Some(
            "4 |     \"lighting\": \"low golden sunrise light from the left, long blue shadows\","
        )
    );
    assert_eq!(lines.next(), Some("  |     ^^^^^^^^^^ fixable with --fix"));
    assert_eq!(lines.next(), Some("1 warning in 1 file"));
}

#[test]
fn json_output_shape() {
    let file = corpus("bad_hex_short.json");
    let out = verify_cmd(&["--json", path_str(&file), "-"], Some(b"{\"a\": tru}"));
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let files = report.as_array().expect("array");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["path"], path_str(&file));
    let expected: Value = serde_json::from_str(
        &fs::read_to_string(corpus("bad_hex_short.expected.json")).expect("expected"),
    )
    .expect("json");
    let messages: Vec<&Value> = files[0]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| &w["message"])
        .collect();
    assert_eq!(
        messages,
        expected
            .as_array()
            .expect("list")
            .iter()
            .collect::<Vec<_>>()
    );
    let warning = &files[0]["warnings"][0];
    let mut keys: Vec<&str> = warning
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "column",
            "end_column",
            "end_line",
            "json_path",
            "line",
            "message"
        ]
    );
    assert_eq!(files[1]["path"], "-");
    assert_eq!(
        files[1]["warnings"][0],
        serde_json::json!({
            "message": "invalid JSON: Expecting value: line 1 column 7 (char 6)",
            "json_path": "$",
            "line": 1, "column": 7, "end_line": 1, "end_column": 8
        })
    );
}

#[test]
fn stdin_and_unreadable_input() {
    let out = verify_cmd(
        &["-"],
        Some(b"{\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[]}}"),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());

    let out = verify_cmd(&["--json", "-"], Some(b"\xff\xfe not utf-8"));
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(report[0]["error"]
        .as_str()
        .expect("error")
        .contains("UTF-8"));
    assert_eq!(report[0]["warnings"], serde_json::json!([]));
}

#[test]
fn newlines_are_read_like_python_text_mode() {
    // read_text() turns \r\n into \n, so positions match the LF file.
    let out = verify_cmd(
        &["--json", "-"],
        Some(b"{\r\n  \"a\": 1,\r\n  \"b\": oops\r\n}"),
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        report[0]["warnings"][0]["message"],
        "invalid JSON: Expecting value: line 3 column 8 (char 19)"
    );
}

#[test]
fn fix_rewrites_in_place_and_reports_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("caption.json");
    fs::copy(corpus("bad_hex_misc.json"), &target).expect("copy");
    let before = fs::read_to_string(&target).expect("read");
    let out = verify_cmd(&["--fix", "--json", path_str(&target)], None);
    assert_eq!(out.status.code(), Some(1), "unfixable colours remain");
    let after = fs::read_to_string(&target).expect("read");
    assert_eq!(after, before.replace("\"FFFFFF\"", "\"#FFFFFF\""));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report[0]["warnings"].as_array().expect("list").len(), 4);
    assert!(text(&out.stderr).contains("fixed"));

    fs::copy(corpus("style_wrong_key_order_art.json"), &target).expect("copy");
    let out = verify_cmd(&["--fix", path_str(&target)], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn fix_on_stdin_prints_the_fixed_caption() {
    let raw = fs::read_to_string(corpus("cd_wrong_order_and_extra_key.json")).expect("read");
    let out = verify_cmd(&["--fix", "-"], Some(raw.as_bytes()));
    assert_eq!(out.status.code(), Some(1), "the extra key is not fixable");
    let fixed = text(&out.stdout);
    assert_eq!(
        ideogram4::caption::fix::apply_fixes(&raw).expect("valid"),
        fixed
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("keys ['layout'] are not allowed in this context"),
        "{stderr}"
    );
    assert!(!stderr.contains("key order"), "{stderr}");
}
