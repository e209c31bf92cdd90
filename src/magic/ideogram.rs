//! The hosted Ideogram magic-prompt endpoint: the idea and ratio go up, a caption object comes
//! back (`json_prompt`), expanded server-side.

use std::time::Duration;

use serde_json::json;

use super::http::{post_json, Post};
use super::{quote, ApiKey, Backend, Cancel, MagicError, Request};
use crate::caption::json::{self, Value};

/// The path under the API's base URL.
pub const MAGIC_PROMPT_PATH: &str = "/v1/ideogram-v4/magic-prompt";

pub struct IdeogramBackend {
    /// The full endpoint URL.
    pub url: String,
    pub key: ApiKey,
    pub timeout: Duration,
}

/// The API's ratio spelling: `16x9`, or `AUTO`.
fn api_ratio(ratio: &str) -> String {
    if ratio.eq_ignore_ascii_case("auto") {
        "AUTO".into()
    } else {
        ratio.replace(':', "x")
    }
}

impl Backend for IdeogramBackend {
    fn label(&self) -> String {
        "ideogram ideogram-4-v1".into()
    }

    fn complete(&self, request: &Request<'_>, cancel: &Cancel) -> Result<String, MagicError> {
        let post = Post {
            url: &self.url,
            headers: vec![
                ("Api-Key", self.key.expose().to_string()),
                ("Content-Type", "application/json".to_string()),
            ],
            body: json!({
                "text_prompt": request.idea,
                "aspect_ratio": api_ratio(request.aspect_ratio),
            })
            .to_string(),
            timeout: self.timeout,
            key: Some(&self.key),
            key_var: "IDEOGRAM_API_KEY",
        };
        let body = post_json(&post, cancel)?;
        let quoted = || self.key.redact(&quote(&body));
        // Our own parser keeps the caption's key order (serde_json's map would sort it).
        let root = json::parse(&body).map_err(|f| MagicError::MalformedResponse {
            url: self.url.clone(),
            message: f.message(&body),
            body: quoted(),
        })?;
        let prompt = match &root.value {
            Value::Object(o) => o.get("json_prompt").map(|e| &e.value),
            _ => None,
        };
        match prompt {
            Some(node) if matches!(&node.value, Value::Object(o) if !o.entries.is_empty()) => {
                Ok(body[node.start..node.end].to_string())
            }
            _ => Err(MagicError::NoJsonPrompt {
                url: self.url.clone(),
                body: quoted(),
            }),
        }
    }

    fn accepts_feedback(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ratio_spelling() {
        assert_eq!(super::api_ratio("16:9"), "16x9");
        assert_eq!(super::api_ratio("auto"), "AUTO");
    }
}
