//! An HTTP/1.1 server on 127.0.0.1 that answers like the magic prompt services: it records each
//! request and plays canned answers in order (the last one repeats).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Sleep this long before answering (timeouts, cancellation).
    pub delay: Duration,
}

impl Canned {
    pub fn new(status: u16, body: impl Into<String>) -> Canned {
        Canned {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Canned {
        self.delay = d;
        self
    }
}

/// A chat-completions success as OpenAI, OpenRouter, llama.cpp and Ollama send it.
pub fn chat_ok(content: &str) -> Canned {
    Canned::new(
        200,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000,
            "model": "test-model",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 400, "total_tokens": 1300},
        })
        .to_string(),
    )
}

/// The Ideogram magic-prompt endpoint's success: `json_prompt` is the caption object, written
/// here as raw JSON text so its key order is exactly what the test chose.
pub fn ideogram_ok(json_prompt: &str) -> Canned {
    Canned::new(
        200,
        format!("{{\"aspect_ratio\": \"16x9\", \"json_prompt\": {json_prompt}}}"),
    )
}

/// OpenRouter's error body shape.
pub fn api_error(status: u16, message: &str) -> Canned {
    Canned::new(
        status,
        json!({"error": {"message": message, "code": status}}).to_string(),
    )
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
}

pub struct FakeServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

impl FakeServer {
    pub fn start(answers: Vec<Canned>) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (reqs, stopping) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut index = 0usize;
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let answer = answers[index.min(answers.len() - 1)].clone();
                index += 1;
                let reqs = reqs.clone();
                // Each connection on its own thread, so a slow answer does not block the next.
                std::thread::spawn(move || serve(stream, &answer, &reqs));
            }
        });
        FakeServer {
            port,
            requests,
            stop,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// A port nothing listens on.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn serve(stream: TcpStream, answer: &Canned, requests: &Mutex<Vec<Recorded>>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    let len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    requests.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    std::thread::sleep(answer.delay);
    let mut out = stream;
    let mut head = format!("HTTP/1.1 {} X\r\n", answer.status);
    for (n, v) in &answer.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        answer.body.len()
    ));
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(answer.body.as_bytes());
    let _ = out.flush();
}

/// A caption the verifier accepts, with `aspect_ratio` and bboxes as a chat model is asked to
/// write them.
pub const GOOD_REPLY: &str = r##"{"aspect_ratio":"16:9","high_level_description":"A red fox sits in fresh snow beside a wooden sign reading 'Fuchs'.","style_description":{"aesthetics":"calm, crisp","lighting":"soft morning light","photo":"85mm lens, f/2.8","medium":"photograph","color_palette":["#C0392B","#FFFFFF"]},"compositional_deconstruction":{"background":"a snowy forest clearing under a pale sky","elements":[{"type":"obj","bbox":[300,150,900,550],"desc":"a red fox sitting upright"},{"type":"text","bbox":[200,600,400,900],"text":"Fuchs","desc":"black painted letters on a wooden sign"}]}}"##;

/// [`GOOD_REPLY`] after the official strip step.
pub const GOOD_STRIPPED: &str = r##"{"high_level_description":"A red fox sits in fresh snow beside a wooden sign reading 'Fuchs'.","style_description":{"aesthetics":"calm, crisp","lighting":"soft morning light","photo":"85mm lens, f/2.8","medium":"photograph","color_palette":["#C0392B","#FFFFFF"]},"compositional_deconstruction":{"background":"a snowy forest clearing under a pale sky","elements":[{"type":"obj","desc":"a red fox sitting upright"},{"type":"text","text":"Fuchs","desc":"black painted letters on a wooden sign"}]}}"##;
