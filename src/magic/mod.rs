//! Magic prompt: a plain idea expanded into a structured JSON caption by a language model.
//!
//! Ideogram 4 was trained on long JSON captions only; a one-line idea samples far from that
//! distribution. The official tool expands ideas before sampling; this module does the same
//! behind one trait, [`Backend`], with three implementations:
//!
//! * [`BackendKind::Ideogram`]: the free hosted endpoint (`IDEOGRAM_API_KEY`), expansion done
//!   server-side;
//! * [`BackendKind::OpenRouter`]: chat completions at OpenRouter (`MAGIC_PROMPT_API_KEY`);
//! * [`BackendKind::OpenAi`]: any OpenAI-compatible chat-completions server given by base URL
//!   and model (llama.cpp, Ollama, LM Studio), key optional
//!   (`IDEOGRAM4_MAGIC_PROMPT_API_KEY`).
//!
//! [`expand`] turns the model's reply into a caption the official verifier accepts where it can:
//! code fences, prose around the JSON and embedded objects are handled, `aspect_ratio` and (by
//! default) every `bbox` are stripped as the official post-processing does, mechanical problems
//! are fixed, and when problems remain the verifier's messages go back to a chat model once.
//!
//! API keys live only in [`ApiKey`], whose `Debug` hides the value; no error text, log line or
//! record carries them.

mod chat;
pub mod config;
mod extract;
mod http;
mod ideogram;
mod post;
mod system_prompt;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

pub use config::{build_backend, build_from_env, BackendKind, MagicConfig, Overrides};
pub use extract::extract_json_object;
pub use post::{aspect_ratio_from_size, strip_aspect_ratio_and_bboxes};

use crate::caption::{self, Warning};

/// How many characters of an unusable reply an error quotes.
pub const QUOTE_CHARS: usize = 200;

/// An API key of a magic prompt backend.
pub type ApiKey = crate::secret::Secret<ApiKeyKind>;

/// Names [`ApiKey`] in `Debug` output.
#[derive(Debug)]
pub enum ApiKeyKind {}

impl crate::secret::SecretKind for ApiKeyKind {
    const NAME: &'static str = "ApiKey";
}

/// Set from another thread to abandon an expansion; requests in flight are left to time out
/// on their own thread, their answer is dropped.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Why an expansion produced no caption. No variant carries an API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagicError {
    #[error("no API key for the {backend} magic prompt: set {var}, or api_key in the [magic_prompt] table of config.toml")]
    MissingKey {
        backend: &'static str,
        var: &'static str,
    },
    #[error("{url}: HTTP {status}: the API key was refused; check {var} (or api_key in the [magic_prompt] table of config.toml)")]
    Unauthorized {
        url: String,
        status: u16,
        var: &'static str,
    },
    #[error("{url}: HTTP 429 (rate limited){}; try again later", retry_note(*.retry_after, *.waited))]
    RateLimited {
        url: String,
        /// What the server asked for, in seconds.
        retry_after: Option<u64>,
        /// Whether one wait was already spent.
        waited: bool,
    },
    #[error("{url}: HTTP {status}: the service failed; try again later{}", quote_suffix(.body))]
    Server {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: HTTP {status}{}", quote_suffix(.body))]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error("cannot connect to {url}: connection refused; is the server running there? (base_url in the [magic_prompt] table of config.toml)")]
    ConnectionRefused { url: String },
    #[error("{url}: {message}")]
    Network { url: String, message: String },
    #[error("{url}: no answer within {seconds} s (timeout_s in the [magic_prompt] table of config.toml, --timeout on the command line)")]
    Timeout { url: String, seconds: u64 },
    #[error("cancelled")]
    Cancelled,
    #[error("{url}: the response is not JSON ({message}): {body:?}")]
    MalformedResponse {
        url: String,
        message: String,
        body: String,
    },
    #[error("{url}: the response has no choices: {body:?}")]
    NoChoices { url: String, body: String },
    #[error("{url}: the model returned an empty message")]
    EmptyContent { url: String },
    #[error("{url}: the response has no json_prompt: {body:?}")]
    NoJsonPrompt { url: String, body: String },
    #[error("the model's reply is not a JSON caption: {reply:?}")]
    NotJson { reply: String },
}

fn retry_note(retry_after: Option<u64>, waited: bool) -> String {
    match (retry_after, waited) {
        (Some(s), true) => format!(", still limited after waiting {s} s"),
        (None, true) => ", still limited after one wait".into(),
        (Some(s), false) => format!(", asks to wait {s} s, longer than the bounded wait"),
        (None, false) => String::new(),
    }
}

fn quote_suffix(body: &str) -> String {
    if body.trim().is_empty() {
        String::new()
    } else {
        format!(": {body:?}")
    }
}

/// The first [`QUOTE_CHARS`] characters of a text an error quotes.
pub(crate) fn quote(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// One request to a backend.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub idea: &'a str,
    /// `"W:H"`.
    pub aspect_ratio: &'a str,
    /// The previous reply and the verifier's messages about it, for the one retry.
    pub feedback: Option<Feedback<'a>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Feedback<'a> {
    pub previous_reply: &'a str,
    pub messages: &'a [String],
}

/// A service that turns an idea into caption text.
pub trait Backend: Send + Sync {
    /// What to show and record: backend and model, never a key (`openrouter
    /// anthropic/claude-opus-4.8`).
    fn label(&self) -> String;
    /// The raw caption text: a chat model's message, or the hosted API's `json_prompt`.
    fn complete(&self, request: &Request<'_>, cancel: &Cancel) -> Result<String, MagicError>;
    /// Whether a second request can carry the verifier's messages (chat models can; the hosted
    /// API takes only the idea).
    fn accepts_feedback(&self) -> bool;
}

/// How [`expand`] post-processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandOptions {
    /// `"W:H"`, see [`aspect_ratio_from_size`].
    pub aspect_ratio: String,
    /// Keep each element's `bbox` (the official post-processing deletes them).
    pub keep_bboxes: bool,
}

/// A verified caption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Minified, as the official tool passes it on.
    pub caption: String,
    /// What the verifier still reports (empty when the caption is clean).
    pub warnings: Vec<Warning>,
    /// [`Backend::label`].
    pub backend: String,
    /// Whether the verifier's messages were sent back once.
    pub retried: bool,
}

/// Expands `idea` through `backend` and verifies the result: fixable warnings fixed, one retry
/// with the verifier's messages when problems remain and the backend takes feedback.
pub fn expand(
    backend: &dyn Backend,
    idea: &str,
    options: &ExpandOptions,
    cancel: &Cancel,
) -> Result<Expansion, MagicError> {
    let started = Instant::now();
    let label = backend.label();
    // The idea is as private as a caption: its length identifies it in the log.
    tracing::info!(
        backend = %label,
        aspect_ratio = %options.aspect_ratio,
        idea_chars = idea.chars().count(),
        "magic prompt: expanding"
    );
    let first = backend.complete(
        &Request {
            idea,
            aspect_ratio: &options.aspect_ratio,
            feedback: None,
        },
        cancel,
    )?;
    let (mut caption, mut warnings) = settle(&first, options)?;
    let mut retried = false;
    if !warnings.is_empty() && backend.accepts_feedback() {
        let messages: Vec<String> = warnings.iter().map(|w| w.message.clone()).collect();
        tracing::info!(
            backend = %label,
            warnings = messages.len(),
            "magic prompt: the caption has problems; asking once more"
        );
        let second = backend.complete(
            &Request {
                idea,
                aspect_ratio: &options.aspect_ratio,
                feedback: Some(Feedback {
                    previous_reply: &first,
                    messages: &messages,
                }),
            },
            cancel,
        )?;
        retried = true;
        match settle(&second, options) {
            // Keep whichever answer is better; a worse retry does not undo a usable first one.
            Ok((c, w)) if w.len() <= warnings.len() => (caption, warnings) = (c, w),
            Ok(_) => {}
            Err(e) => tracing::warn!(backend = %label, "magic prompt: retry unusable: {e}"),
        }
    }
    tracing::info!(
        backend = %label,
        seconds = started.elapsed().as_secs_f64(),
        retried,
        warnings = warnings.len(),
        caption_chars = caption.chars().count(),
        caption = %crate::logging::caption_digest(&caption),
        "magic prompt: done"
    );
    Ok(Expansion {
        caption,
        warnings,
        backend: label,
        retried,
    })
}

/// A reply made into a caption: the JSON object found in it, fixed, stripped, minified; and
/// what the verifier says about that.
fn settle(reply: &str, options: &ExpandOptions) -> Result<(String, Vec<Warning>), MagicError> {
    let object = extract_json_object(reply).ok_or_else(|| MagicError::NotJson {
        reply: quote(reply),
    })?;
    let caption = match caption::fix::apply_fixes(&object) {
        Ok(fixed) => strip_aspect_ratio_and_bboxes(&fixed, !options.keep_bboxes).unwrap_or(fixed),
        // Not JSON Python accepts: keep the text so the verifier's message says why.
        Err(_) => object,
    };
    let warnings = caption::verify(&caption);
    Ok((caption, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_debug_hides_value_and_quote_cuts() {
        let k = ApiKey::new(" sk-secret ").unwrap();
        assert_eq!(format!("{k:?}"), "ApiKey([redacted])");
        assert_eq!(k.expose(), "sk-secret");
        assert_eq!(k.redact("a sk-secret b"), "a [redacted] b");
        assert!(ApiKey::new("  ").is_none());
        let long: String = "é".repeat(300);
        let q = quote(&long);
        assert_eq!(q.chars().count(), QUOTE_CHARS + 1);
        assert!(q.ends_with('…'));
        assert_eq!(quote("  short "), "short");
    }
}
