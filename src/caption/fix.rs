//! Mechanical fixes for the warnings that have one right answer, applied as text edits so the
//! rest of the file (indentation, spacing, number spelling, other escapes) stays as written.
//!
//! What gets fixed:
//! * keys into schema order: root (`high_level_description`, `style_description`,
//!   `compositional_deconstruction`), `style_description` (photo or art_style order),
//!   `compositional_deconstruction`, and `obj`/`text` elements; the expected keys trade places
//!   among the positions they hold, so keys the schema does not expect there stay where they are
//!   (objects with duplicate keys are left alone);
//! * palette colours: `#aabbcc` -> `#AABBCC`, `#abc` -> `#AABBCC`, `AABBCC` -> `#AABBCC`;
//! * when the raw-text escape warning fires: `\uXXXX` escapes of non-ASCII characters become
//!   literal characters (lone surrogates stay escaped, they cannot be stored as UTF-8).
//!
//! A warning the fixes make disappear has [`Warning::fixable`](super::Warning) set.

use super::escapes;
use super::json::{self, JStr, Node, Object, Value};
use super::schema::{element_order, style_order, CD_ORDER};
use super::JsonError;

const TOP_LEVEL_ORDER: [&str; 3] = [
    "high_level_description",
    "style_description",
    "compositional_deconstruction",
];

/// Applies every mechanical fix and returns the new text (the input unchanged when there is
/// nothing to fix). Fails only when the text is not valid JSON.
pub fn apply_fixes(raw: &str) -> Result<String, JsonError> {
    let root = json::parse(raw).map_err(|f| JsonError::from_failure(raw, &f))?;
    let fixer = Fixer {
        raw,
        unescape: escapes::check(raw).is_some(),
    };
    let mut patches = Vec::new();
    fixer.walk(&root, Role::Root, &mut patches);
    patches.sort_by_key(|p| p.start);
    Ok(splice(raw, 0, raw.len(), &patches))
}

/// The canonical spelling of a colour a palette entry obviously means, if it is one.
pub(crate) fn normalize_color(s: &JStr<'_>) -> Option<String> {
    let text = s.to_str_lossy();
    let (hex, had_hash) = match text.strip_prefix('#') {
        Some(rest) => (rest, true),
        None => (&*text, false),
    };
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let digits = match hex.len() {
        6 => hex.to_ascii_uppercase(),
        // Three digits without '#' could be anything; with it, CSS shorthand.
        3 if had_hash => hex
            .chars()
            .flat_map(|c| [c, c])
            .collect::<String>()
            .to_ascii_uppercase(),
        _ => return None,
    };
    Some(format!("#{digits}"))
}

/// Whether un-escaping would leave a literal non-ASCII character in the text, which is what
/// silences the raw-text escape warning.
pub(crate) fn escapes_fixable(node: &Node<'_>) -> bool {
    match &node.value {
        Value::Str(s) => s.non_ascii_escape,
        Value::Array(items) => items.iter().any(escapes_fixable),
        Value::Object(obj) => obj
            .entries
            .iter()
            .any(|e| e.key.non_ascii_escape || escapes_fixable(&e.value)),
        _ => false,
    }
}

/// Replace `raw[start..end]` with `text`.
#[derive(Debug)]
struct Patch {
    start: usize,
    end: usize,
    text: String,
}

/// `raw[start..end]` with the patches that lie inside it applied (patches sorted by start).
fn splice(raw: &str, start: usize, end: usize, patches: &[Patch]) -> String {
    let mut out = String::with_capacity(end - start);
    let mut at = start;
    for p in patches.iter().filter(|p| p.start >= start && p.end <= end) {
        out.push_str(&raw[at..p.start]);
        out.push_str(&p.text);
        at = p.end;
    }
    out.push_str(&raw[at..end]);
    out
}

/// Where a value sits in the schema, which decides what may be fixed in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    Style,
    CompositionalDeconstruction,
    Elements,
    Element,
    Palette,
    PaletteEntry,
    Other,
}

impl Role {
    fn child(self, key: &JStr<'_>) -> Role {
        match self {
            Role::Root if key.is("style_description") => Role::Style,
            Role::Root if key.is("compositional_deconstruction") => {
                Role::CompositionalDeconstruction
            }
            Role::CompositionalDeconstruction if key.is("elements") => Role::Elements,
            Role::Style | Role::Element if key.is("color_palette") => Role::Palette,
            _ => Role::Other,
        }
    }

    fn item(self) -> Role {
        match self {
            Role::Elements => Role::Element,
            Role::Palette => Role::PaletteEntry,
            _ => Role::Other,
        }
    }
}

struct Fixer<'s> {
    raw: &'s str,
    unescape: bool,
}

impl Fixer<'_> {
    fn walk(&self, node: &Node<'_>, role: Role, out: &mut Vec<Patch>) {
        match &node.value {
            Value::Str(s) => {
                if role == Role::PaletteEntry {
                    if let Some(color) = normalize_color(s) {
                        if !s.is(&color) {
                            out.push(Patch {
                                start: node.start,
                                end: node.end,
                                text: format!("\"{color}\""),
                            });
                            return;
                        }
                    }
                }
                self.unescape_token(node.start, node.end, s, out);
            }
            Value::Array(items) => {
                for item in items {
                    self.walk(item, role.item(), out);
                }
            }
            Value::Object(obj) => {
                let first_inner = out.len();
                for entry in &obj.entries {
                    self.unescape_token(entry.key_start, entry.key_end, &entry.key, out);
                    self.walk(&entry.value, role.child(&entry.key), out);
                }
                // With duplicate keys, moving members around would either drop the shadowed
                // ones or change which value wins; that is for the user to sort out.
                if obj.has_duplicates {
                    return;
                }
                if let Some(order) = self.schema_order(role, obj) {
                    self.reorder(obj, order, first_inner, out);
                }
            }
            _ => {}
        }
    }

    fn schema_order(&self, role: Role, obj: &Object<'_>) -> Option<&'static [&'static str]> {
        match role {
            Role::Root => Some(&TOP_LEVEL_ORDER),
            Role::Style => style_order(obj),
            Role::CompositionalDeconstruction => Some(&CD_ORDER),
            Role::Element => element_order(obj),
            _ => None,
        }
    }

    /// Replaces the object's members with the same members in schema order, folding the
    /// patches already made inside them into that one edit.
    fn reorder(&self, obj: &Object<'_>, order: &[&str], first_inner: usize, out: &mut Vec<Patch>) {
        // Expected keys trade places among the slots they occupy; other keys stay put.
        let rank = |i: usize| order.iter().position(|k| obj.entries[i].key.is(k));
        let slots: Vec<usize> = (0..obj.entries.len())
            .filter(|&i| rank(i).is_some())
            .collect();
        let mut sorted = slots.clone();
        sorted.sort_by_key(|&i| rank(i));
        if sorted == slots {
            return;
        }
        let mut permutation: Vec<usize> = (0..obj.entries.len()).collect();
        for (&slot, &entry) in slots.iter().zip(&sorted) {
            permutation[slot] = entry;
        }
        let mut inner: Vec<Patch> = out.drain(first_inner..).collect();
        inner.sort_by_key(|p| p.start);
        let separator = &self.raw[obj.separator.0..obj.separator.1];
        let mut text = String::with_capacity(obj.members_end - obj.members_start);
        for (pos, &i) in permutation.iter().enumerate() {
            if pos > 0 {
                text.push_str(separator);
            }
            let entry = &obj.entries[i];
            text.push_str(&splice(
                self.raw,
                entry.key_start,
                entry.value_start_first,
                &inner,
            ));
            text.push_str(&splice(
                self.raw,
                entry.value.start,
                entry.value.end,
                &inner,
            ));
        }
        out.push(Patch {
            start: obj.members_start,
            end: obj.members_end,
            text,
        });
    }

    /// Rewrites `\uXXXX` escapes of non-ASCII characters inside one string token as literal
    /// characters, leaving every other escape as written.
    fn unescape_token(&self, start: usize, end: usize, s: &JStr<'_>, out: &mut Vec<Patch>) {
        if !self.unescape || !s.non_ascii_escape {
            return;
        }
        let token = &self.raw[start..end];
        let b = token.as_bytes();
        let hex_at = |i: usize| {
            token
                .get(i..i + 4)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
        };
        let mut text = String::with_capacity(token.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                let next = token[i..].find('\\').map_or(token.len(), |off| i + off);
                text.push_str(&token[i..next]);
                i = next;
                continue;
            }
            if b.get(i + 1) != Some(&b'u') {
                text.push_str(&token[i..i + 2]);
                i += 2;
                continue;
            }
            let Some(cp) = hex_at(i + 2) else {
                // Cannot happen in a token that parsed; keep the text as is.
                text.push_str(&token[i..i + 2]);
                i += 2;
                continue;
            };
            let mut len = 6;
            let mut decoded = cp;
            if (0xD800..=0xDBFF).contains(&cp) && token.get(i + 6..i + 8) == Some("\\u") {
                if let Some(low) = hex_at(i + 8).filter(|l| (0xDC00..=0xDFFF).contains(l)) {
                    decoded = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    len = 12;
                }
            }
            match char::from_u32(decoded) {
                Some(c) if decoded >= 0x80 => text.push(c),
                _ => text.push_str(&token[i..i + len]),
            }
            i += len;
        }
        out.push(Patch { start, end, text });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn color(s: &str) -> Option<String> {
        normalize_color(&JStr {
            wtf8: std::borrow::Cow::Borrowed(s.as_bytes()),
            non_ascii_escape: false,
        })
    }

    #[test]
    fn colours() {
        assert_eq!(color("#aabbcc").as_deref(), Some("#AABBCC"));
        assert_eq!(color("#abc").as_deref(), Some("#AABBCC"));
        assert_eq!(color("a1b2c3").as_deref(), Some("#A1B2C3"));
        assert_eq!(color("abc"), None);
        assert_eq!(color("#GG0000"), None);
        assert_eq!(color("#FFFFFFF"), None);
    }

    #[test]
    fn reorders_and_keeps_layout() {
        let raw = "{\n  \"compositional_deconstruction\": {\"elements\": [], \"background\": \"b\"},\n  \"high_level_description\": \"x\"\n}";
        assert_eq!(
            apply_fixes(raw).expect("valid"),
            "{\n  \"high_level_description\": \"x\",\n  \"compositional_deconstruction\": {\"background\": \"b\", \"elements\": []}\n}"
        );
    }

    #[test]
    fn unescapes_only_non_ascii() {
        let raw = r#"{"compositional_deconstruction":{"background":"caf\u00e9 \ud83d\ude00 \u0041 \ud800 \n","elements":[]}}"#;
        assert_eq!(
            apply_fixes(raw).expect("valid"),
            r#"{"compositional_deconstruction":{"background":"café 😀 \u0041 \ud800 \n","elements":[]}}"#
        );
    }

    #[test]
    fn nothing_to_fix_is_identity() {
        let raw = "{ \"compositional_deconstruction\" : { \"background\" : \"b\" , \"elements\" : [ ] } }";
        assert_eq!(apply_fixes(raw).expect("valid"), raw);
    }
}
