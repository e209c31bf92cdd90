//! `ideogram4-tui caption` and `generate --idea`: the real binary against a local server that
//! answers like an OpenAI-compatible service, with keys that must not reach any file it writes.

mod magic_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ideogram4::output::read_parameters;
use magic_support::*;

const KEY: &str = "sk-or-v1-cli-test-0d5f3c8e71";

struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Home {
        let p = std::env::temp_dir().join(format!("ideogram4-magic-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        for sub in ["home", "config/ideogram4-tui", "data", "work"] {
            std::fs::create_dir_all(p.join(sub)).unwrap();
        }
        Home(p)
    }

    fn config(&self, toml: &str) {
        std::fs::write(self.0.join("config/ideogram4-tui/config.toml"), toml).unwrap();
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"));
        cmd.current_dir(self.0.join("work"))
            .env("HOME", self.0.join("home"))
            .env("XDG_CONFIG_HOME", self.0.join("config"))
            .env("XDG_DATA_HOME", self.0.join("data"))
            // The most detailed log, so a leak would show.
            .env("IDEOGRAM4_LOG", "trace")
            .env_remove("IDEOGRAM4_MODEL")
            .env_remove("IDEOGRAM_API_KEY")
            .env_remove("MAGIC_PROMPT_API_KEY")
            .env_remove("IDEOGRAM4_MAGIC_PROMPT_API_KEY")
            .args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run ideogram4-tui")
    }

    /// Every file the runs wrote (logs, images, state), for the key check.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &mut out);
        out
    }

    fn assert_no_key(&self) {
        let files = self.files();
        for f in &files {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
                "{} contains the API key",
                f.display()
            );
        }
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn caption_against_a_local_openai_compatible_server() {
    let home = Home::new("caption");
    let server = FakeServer::start(vec![chat_ok(&format!("```json\n{GOOD_REPLY}\n```"))]);
    let base = format!("{}/v1", server.base());
    let out = home.run(
        &[
            "caption",
            "a red fox in the snow",
            "--backend",
            "openai",
            "--base-url",
            &base,
            "--model",
            "qwen2.5:14b",
            "--width",
            "1920",
            "--height",
            "1088",
        ],
        &[("IDEOGRAM4_MAGIC_PROMPT_API_KEY", KEY)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{GOOD_STRIPPED}\n"));
    assert!(
        stderr(&out).contains("magic prompt (openai qwen2.5:14b)"),
        "{}",
        stderr(&out)
    );
    let req = &server.requests()[0];
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = req.json();
    assert_eq!(body["model"], "qwen2.5:14b");
    assert!(body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .starts_with("TARGET IMAGE ASPECT RATIO: 30:17 (width:height)."));
    assert!(!stderr(&out).contains(KEY));
    home.assert_no_key();
    assert!(
        home.files()
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "log")),
        "the run wrote a log: {:?}",
        home.files()
    );
}

#[test]
fn caption_json_uses_config_toml_and_reports_warnings() {
    let home = Home::new("json");
    let bad = r#"{"high_level_description":"A fox.","compositional_deconstruction":{"background":"snow"}}"#;
    let server = FakeServer::start(vec![chat_ok(bad)]);
    home.config(&format!(
        "[magic_prompt]\nbackend = \"openrouter\"\nbase_url = \"{}/api/v1\"\nmodel = \"test/model\"\n",
        server.base()
    ));
    let out = home.run(
        &["caption", "a fox", "--json"],
        &[("MAGIC_PROMPT_API_KEY", KEY)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["caption"], bad);
    assert_eq!(v["backend"], "openrouter test/model");
    assert_eq!(v["retried"], true);
    assert_eq!(
        v["warnings"][0]["message"],
        "compositional_deconstruction: 'elements' must exist"
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/api/v1/chat/completions");
    home.assert_no_key();
}

#[test]
fn caption_errors_exit_2_with_a_clear_message() {
    let home = Home::new("errors");
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let out = home.run(
        &["caption", "x", "--backend", "openai", "--base-url", &url],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(&format!("cannot connect to {url}/chat/completions")),
        "{}",
        stderr(&out)
    );
    let server = FakeServer::start(vec![api_error(401, &format!("invalid key {KEY}"))]);
    let out = home.run(
        &[
            "caption",
            "x",
            "--backend",
            "openrouter",
            "--base-url",
            &server.base(),
        ],
        &[("MAGIC_PROMPT_API_KEY", KEY)],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("check MAGIC_PROMPT_API_KEY"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains(KEY));
    let out = home.run(&["caption", "x"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("set IDEOGRAM_API_KEY"),
        "{}",
        stderr(&out)
    );
    home.assert_no_key();
}

#[test]
fn generate_from_an_idea_records_idea_and_backend() {
    let home = Home::new("generate");
    let server = FakeServer::start(vec![chat_ok(GOOD_REPLY)]);
    let out = home.run(
        &[
            "generate",
            "--model",
            "demo",
            "--width",
            "64",
            "--height",
            "48",
            "--steps",
            "2",
            "--seed",
            "5",
            "--idea",
            "a red fox in the snow",
            "--magic-backend",
            "openrouter",
            "--magic-base-url",
            &server.base(),
            "--out",
            "fox.png",
        ],
        &[("MAGIC_PROMPT_API_KEY", KEY)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let body = server.requests()[0].json();
    assert!(body["messages"][1]["content"]
        .as_str()
        .unwrap()
        .starts_with("TARGET IMAGE ASPECT RATIO: 4:3 (width:height)."));
    let record = read_parameters(&home.0.join("work/fox.png")).unwrap();
    assert_eq!(record["caption"], GOOD_STRIPPED);
    assert_eq!(record["idea"], "a red fox in the snow");
    assert_eq!(
        record["magic_prompt"],
        "openrouter anthropic/claude-opus-4.8"
    );
    home.assert_no_key();
}
