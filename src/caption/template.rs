//! Captions built from scratch for the editor.

use super::format::write_json_string;

/// The smallest caption that carries plain text typed into an empty editor: the text (trimmed)
/// becomes `high_level_description`, and `compositional_deconstruction` gets the empty
/// `background` and `elements` the schema requires, for the user to fill in. Pretty-printed
/// like [`format::pretty`](super::format::pretty); it verifies clean unless the text itself
/// contains something like a literal `\u00e9`, which the raw-text check cannot tell from an
/// escape.
pub fn wrap_plain_text(text: &str) -> String {
    let mut out = String::from("{\n  \"high_level_description\": ");
    write_json_string(&mut out, text.trim());
    out.push_str(
        ",\n  \"compositional_deconstruction\": {\n    \"background\": \"\",\n    \"elements\": []\n  }\n}",
    );
    out
}
