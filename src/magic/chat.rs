//! OpenAI-style chat completions: OpenRouter and any compatible server (llama.cpp, Ollama,
//! LM Studio).

use std::time::Duration;

use serde_json::{json, Value};

use super::http::{post_json, Post};
use super::system_prompt::{feedback_message, user_message, SYSTEM_PROMPT};
use super::{quote, ApiKey, Backend, Cancel, MagicError, Request};

/// A chat-completions endpoint with a model.
pub struct ChatBackend {
    /// `openrouter` or `openai` (what [`Backend::label`] starts with).
    pub name: &'static str,
    /// The full endpoint URL (`…/chat/completions`).
    pub url: String,
    pub model: String,
    pub key: Option<ApiKey>,
    /// The variable a refused key is set with.
    pub key_var: &'static str,
    pub timeout: Duration,
    pub max_tokens: u32,
    pub temperature: f64,
    /// OpenRouter's `"reasoning": {"enabled": false}` (the official request sends it).
    pub disable_reasoning: bool,
}

impl ChatBackend {
    fn body(&self, request: &Request<'_>) -> String {
        let mut messages = vec![
            json!({"role": "system", "content": SYSTEM_PROMPT}),
            json!({"role": "user", "content": user_message(request.idea, request.aspect_ratio)}),
        ];
        if let Some(f) = request.feedback {
            messages.push(json!({"role": "assistant", "content": f.previous_reply}));
            messages.push(json!({"role": "user", "content": feedback_message(f.messages)}));
        }
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        });
        if self.disable_reasoning {
            body["reasoning"] = json!({"enabled": false});
        }
        body.to_string()
    }
}

impl Backend for ChatBackend {
    fn label(&self) -> String {
        format!("{} {}", self.name, self.model)
    }

    fn complete(&self, request: &Request<'_>, cancel: &Cancel) -> Result<String, MagicError> {
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        if let Some(key) = &self.key {
            headers.push(("Authorization", format!("Bearer {}", key.expose())));
        }
        let post = Post {
            url: &self.url,
            headers,
            body: self.body(request),
            timeout: self.timeout,
            key: self.key.as_ref(),
            key_var: self.key_var,
        };
        let body = post_json(&post, cancel)?;
        let redacted = |text: &str| {
            let q = quote(text);
            self.key.as_ref().map_or(q.clone(), |k| k.redact(&q))
        };
        let data: Value =
            serde_json::from_str(&body).map_err(|e| MagicError::MalformedResponse {
                url: self.url.clone(),
                message: e.to_string(),
                body: redacted(&body),
            })?;
        let Some(first) = data["choices"].as_array().and_then(|c| c.first()) else {
            return Err(MagicError::NoChoices {
                url: self.url.clone(),
                body: redacted(&body),
            });
        };
        match first["message"]["content"].as_str() {
            Some(content) if !content.trim().is_empty() => Ok(content.to_string()),
            _ => Err(MagicError::EmptyContent {
                url: self.url.clone(),
            }),
        }
    }

    fn accepts_feedback(&self) -> bool {
        true
    }
}
