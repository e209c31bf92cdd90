//! JSON colouring that never fails: a lexer over whatever is in the editor, valid or not.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An object key (a string followed by `:`).
    Key,
    String,
    Number,
    /// `true`, `false`, `null`.
    Literal,
    /// `{ } [ ] , :`
    Punct,
    /// Anything JSON would not accept here.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub kind: TokenKind,
}

/// Tokens in text order; whitespace is not a token. An unterminated string stops at the end
/// of its line, so one missing quote does not colour the rest of the caption.
pub fn tokenize(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let kind = match b {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                i += 1;
                TokenKind::Punct
            }
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i = (i + 2).min(bytes.len()),
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b'\n' => break,
                        _ => i += 1,
                    }
                }
                TokenKind::String
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
                {
                    i += 1;
                }
                TokenKind::Number
            }
            _ => {
                let word_end = text[i..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map_or(bytes.len(), |n| i + n);
                if word_end == i {
                    // A lone symbol: step over one whole character.
                    i += text[i..].chars().next().map_or(1, char::len_utf8);
                    TokenKind::Other
                } else {
                    i = word_end;
                    match &text[start..word_end] {
                        "true" | "false" | "null" => TokenKind::Literal,
                        _ => TokenKind::Other,
                    }
                }
            }
        };
        tokens.push(Token {
            start,
            end: i,
            kind,
        });
    }
    // A string is a key when the next token is a colon.
    for idx in 0..tokens.len() {
        if tokens[idx].kind == TokenKind::String
            && tokens
                .get(idx + 1)
                .is_some_and(|t| t.kind == TokenKind::Punct && &text[t.start..t.end] == ":")
        {
            tokens[idx].kind = TokenKind::Key;
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&str, TokenKind)> {
        tokenize(text)
            .into_iter()
            .map(|t| (&text[t.start..t.end], t.kind))
            .collect()
    }

    #[test]
    fn keys_values_and_literals() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"{"a": "x\"y", "n": -1.5e3, "t": [true, null]}"#),
            vec![
                ("{", Punct),
                ("\"a\"", Key),
                (":", Punct),
                ("\"x\\\"y\"", String),
                (",", Punct),
                ("\"n\"", Key),
                (":", Punct),
                ("-1.5e3", Number),
                (",", Punct),
                ("\"t\"", Key),
                (":", Punct),
                ("[", Punct),
                ("true", Literal),
                (",", Punct),
                ("null", Literal),
                ("]", Punct),
                ("}", Punct),
            ]
        );
    }

    #[test]
    fn broken_text_still_lexes() {
        use TokenKind::*;
        assert_eq!(
            kinds("{\"open\n  nope é"),
            vec![
                ("{", Punct),
                ("\"open", String),
                ("nope", Other),
                ("é", Other)
            ]
        );
        assert_eq!(kinds("→"), vec![("→", Other)]);
    }
}
