//! Prompt -> token ids, exactly as the official pipeline's `_tokenize`: render one user
//! message with the chat template (for a text-only prompt always the fixed string below, so
//! no template engine), then encode the whole string with `add_special_tokens = false`.
//! Special-token strings typed inside the prompt are matched as special tokens, and the
//! tokenizer's own NFC normaliser runs before pre-tokenisation, as in Hugging Face.

use std::path::{Path, PathBuf};

/// The official pipeline's `max_text_tokens`.
pub const MAX_TEXT_TOKENS: usize = 2048;

const CHAT_PREFIX: &str = "<|im_start|>user\n";
const CHAT_SUFFIX: &str = "<|im_end|>\n<|im_start|>assistant\n";

/// The rendered chat string for one text-only user turn with the generation prompt
/// (what the Qwen3-VL template produces; the spec's §2).
pub fn chat_string(prompt: &str) -> String {
    let mut s = String::with_capacity(CHAT_PREFIX.len() + prompt.len() + CHAT_SUFFIX.len());
    s.push_str(CHAT_PREFIX);
    s.push_str(prompt);
    s.push_str(CHAT_SUFFIX);
    s
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{}: cannot load the tokenizer: {message}", path.display())]
    Load { path: PathBuf, message: String },
    /// The official message, verbatim.
    #[error("prompt has {count} tokens, exceeds max_text_tokens={max}")]
    TooLong { count: usize, max: usize },
    #[error("tokenizer: {0}")]
    Encode(String),
    #[error("{}: special token {token} is not in the vocabulary", path.display())]
    MissingSpecial { path: PathBuf, token: &'static str },
}

/// The Qwen tokenizer of a checkpoint (`tokenizer/tokenizer.json`).
pub struct PromptTokenizer {
    inner: tokenizers::Tokenizer,
    path: PathBuf,
}

impl std::fmt::Debug for PromptTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptTokenizer")
            .field("path", &self.path)
            .finish()
    }
}

impl PromptTokenizer {
    /// Loads `tokenizer.json` and checks that the chat-template tokens exist.
    pub fn from_file(path: &Path) -> Result<PromptTokenizer, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| TokenizerError::Load {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        for token in ["<|im_start|>", "<|im_end|>"] {
            if inner.token_to_id(token).is_none() {
                return Err(TokenizerError::MissingSpecial {
                    path: path.to_path_buf(),
                    token,
                });
            }
        }
        Ok(PromptTokenizer {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// `<checkpoint>/tokenizer/tokenizer.json`.
    pub fn from_checkpoint(root: &Path) -> Result<PromptTokenizer, TokenizerError> {
        Self::from_file(&root.join("tokenizer").join("tokenizer.json"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ids of an already rendered string (no special tokens added).
    pub fn encode_raw(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Token ids of `prompt` as the pipeline feeds them to the text encoder; more than
    /// [`MAX_TEXT_TOKENS`] is the official error.
    pub fn encode_prompt(&self, prompt: &str) -> Result<Vec<u32>, TokenizerError> {
        let ids = self.encode_raw(&chat_string(prompt))?;
        if ids.len() > MAX_TEXT_TOKENS {
            return Err(TokenizerError::TooLong {
                count: ids.len(),
                max: MAX_TEXT_TOKENS,
            });
        }
        Ok(ids)
    }

    /// Token count of `prompt` including the template (for live counters in the UI).
    pub fn count_prompt_tokens(&self, prompt: &str) -> Result<usize, TokenizerError> {
        Ok(self.encode_raw(&chat_string(prompt))?.len())
    }

    /// Text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, false)
            .map_err(|e| TokenizerError::Encode(e.to_string()))
    }

    /// Token strings of `ids` (byte-level symbols such as `Ġcat`).
    pub fn tokens(&self, ids: &[u32]) -> Vec<Option<String>> {
        ids.iter().map(|&i| self.inner.id_to_token(i)).collect()
    }

    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_string_is_the_qwen_template_for_one_user_turn() {
        assert_eq!(
            chat_string("a cat"),
            "<|im_start|>user\na cat<|im_end|>\n<|im_start|>assistant\n"
        );
        assert_eq!(
            TokenizerError::TooLong {
                count: 2050,
                max: 2048
            }
            .to_string(),
            "prompt has 2050 tokens, exceeds max_text_tokens=2048"
        );
    }
}
