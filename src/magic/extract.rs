//! Finding the caption in a model's reply: models wrap JSON in Markdown fences, put a
//! sentence before it, or answer with prose that contains the object somewhere.

use crate::caption::json;

/// How many candidate objects are tried before giving up on finding one that parses.
const MAX_CANDIDATES: usize = 64;

/// The JSON object the reply carries: the reply itself when it is one (after removing a
/// surrounding code fence), else the first balanced `{…}` in it that parses, else the first
/// balanced one (so the verifier can say what is wrong with it), else everything from the first
/// `{` (a reply cut short). `None` when there is no `{` at all.
pub fn extract_json_object(reply: &str) -> Option<String> {
    let text = strip_code_fence(reply);
    let text = text.trim();
    if text.starts_with('{') && json::parse(text).is_ok() {
        return Some(text.to_string());
    }
    let first_open = text.find('{')?;
    let mut first_balanced = None;
    // Only objects at the top level of the prose: an object inside a broken one is a part of
    // the caption, not the caption.
    let mut at = first_open;
    for _ in 0..MAX_CANDIDATES {
        let Some(end) = balanced_end(text, at) else {
            break;
        };
        let candidate = &text[at..end];
        if json::parse(candidate).is_ok() {
            return Some(candidate.to_string());
        }
        first_balanced.get_or_insert(candidate);
        match text[end..].find('{') {
            Some(next) => at = end + next,
            None => break,
        }
    }
    Some(first_balanced.unwrap_or(&text[first_open..]).to_string())
}

/// The official fence removal: trim; when the text starts with three backticks drop the first
/// line, and the last line when it is exactly three backticks; trim again.
pub(crate) fn strip_code_fence(reply: &str) -> String {
    let text = reply.trim();
    if !text.starts_with("```") {
        return text.to_string();
    }
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.first().is_some_and(|l| l.starts_with("```")) {
        lines.remove(0);
    }
    if lines.last().is_some_and(|l| l.trim() == "```") {
        lines.pop();
    }
    lines.join("\n").trim().to_string()
}

/// The byte offset just past the `}` that closes the `{` at `start`, skipping braces inside
/// strings.
fn balanced_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate().skip(start) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_prose_and_embedded_objects() {
        assert_eq!(
            extract_json_object("```json\n{\"a\": 1}\n```").as_deref(),
            Some("{\"a\": 1}")
        );
        assert_eq!(
            extract_json_object("  ```\n{\"a\": \"}\"}\n  ```  ").as_deref(),
            Some("{\"a\": \"}\"}")
        );
        assert_eq!(
            extract_json_object("Sure! Here is your caption:\n{\"a\": {\"b\": \"{x\"}}\nEnjoy.")
                .as_deref(),
            Some("{\"a\": {\"b\": \"{x\"}}")
        );
        // A broken brace pair before the real object.
        assert_eq!(
            extract_json_object("use {braces} like {\"a\": [1]} ok").as_deref(),
            Some("{\"a\": [1]}")
        );
        // Nothing parses: the first balanced candidate, for the verifier to explain.
        assert_eq!(extract_json_object("x {a: 1} y").as_deref(), Some("{a: 1}"));
        // Cut short: the whole rest, not an inner object that happens to be complete.
        assert_eq!(
            extract_json_object("here {\"a\": {\"b\": 1}, \"c\": [1, 2").as_deref(),
            Some("{\"a\": {\"b\": 1}, \"c\": [1, 2")
        );
        assert_eq!(extract_json_object("I cannot help with that."), None);
        assert_eq!(strip_code_fence("```\nabc"), "abc");
    }
}
