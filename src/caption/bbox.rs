//! The caption's elements with their boxes, and edits that rewrite one `bbox` in the text
//! while leaving every other byte as it was (the layout view's moves and resizes).

use super::json::{self, Node, Object, Value};

/// `[y_min, x_min, y_max, x_max]`, each 0…1000 (image height for y, width for x).
pub type Bbox = [i64; 4];

/// What an element is, as far as drawing it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementKind {
    Obj,
    Text,
    /// Missing or unknown `type`.
    Other,
}

/// One entry of `compositional_deconstruction.elements`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementBox {
    pub index: usize,
    pub kind: ElementKind,
    /// `text` for text elements, else the start of `desc`.
    pub label: String,
    /// Byte range of the element in the text.
    pub start: usize,
    pub end: usize,
    /// The box when the element has four integer values.
    pub bbox: Option<Bbox>,
    /// The element has a `bbox` key (valid or not).
    pub has_bbox_key: bool,
}

/// The elements of a caption; empty when the text is not JSON or has no elements array.
pub fn elements(raw: &str) -> Vec<ElementBox> {
    let Ok(root) = json::parse(raw) else {
        return Vec::new();
    };
    let Some(items) = element_nodes(&root) else {
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(index, node)| {
            let object = match &node.value {
                Value::Object(o) => Some(o),
                _ => None,
            };
            let str_of = |key: &str| {
                object
                    .and_then(|o| o.get(key))
                    .and_then(|e| match &e.value.value {
                        Value::Str(s) => Some(s.to_str_lossy().into_owned()),
                        _ => None,
                    })
            };
            let kind = match str_of("type").as_deref() {
                Some("obj") => ElementKind::Obj,
                Some("text") => ElementKind::Text,
                _ => ElementKind::Other,
            };
            let label = match kind {
                ElementKind::Text => str_of("text").or_else(|| str_of("desc")),
                _ => str_of("desc"),
            }
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
            let bbox_entry = object.and_then(|o| o.get("bbox"));
            ElementBox {
                index,
                kind,
                label,
                start: node.start,
                end: node.end,
                bbox: bbox_entry.and_then(|e| int_box(&e.value)),
                has_bbox_key: bbox_entry.is_some(),
            }
        })
        .collect()
}

fn element_nodes<'a, 'b>(root: &'b Node<'a>) -> Option<&'b Vec<Node<'a>>> {
    let Value::Object(top) = &root.value else {
        return None;
    };
    let Value::Object(cd) = &top.get("compositional_deconstruction")?.value.value else {
        return None;
    };
    match &cd.get("elements")?.value.value {
        Value::Array(items) => Some(items),
        _ => None,
    }
}

fn int_box(node: &Node<'_>) -> Option<Bbox> {
    let Value::Array(items) = &node.value else {
        return None;
    };
    if items.len() != 4 {
        return None;
    }
    let mut out = [0i64; 4];
    for (slot, item) in out.iter_mut().zip(items) {
        *slot = match &item.value {
            Value::Int(i) => i.py_str().parse().ok()?,
            _ => return None,
        };
    }
    Some(out)
}

/// The text with element `index`'s box set to `bbox`: the four numbers are replaced where they
/// stand (a box that is not four numbers is replaced whole); an element without one gets a
/// `bbox` member after `type`, spaced like its other members. `None` when there is no such
/// element object.
pub fn set_bbox(raw: &str, index: usize, bbox: Bbox) -> Option<String> {
    let root = json::parse(raw).ok()?;
    let node = element_nodes(&root)?.get(index)?;
    let Value::Object(object) = &node.value else {
        return None;
    };
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    match object.get("bbox") {
        Some(entry) => match &entry.value.value {
            Value::Array(items)
                if items.len() == 4
                    && items
                        .iter()
                        .all(|i| matches!(i.value, Value::Int(_) | Value::Float(_))) =>
            {
                for (item, v) in items.iter().zip(bbox) {
                    edits.push((item.start, item.end, v.to_string()));
                }
            }
            _ => {
                let spaced = raw[entry.key_end..entry.value_start_first].contains(' ');
                edits.push((entry.value.start, entry.value.end, box_text(bbox, spaced)));
            }
        },
        None => edits.push(insertion(raw, object, bbox)),
    }
    let mut out = raw.to_string();
    for (start, end, text) in edits.into_iter().rev() {
        out.replace_range(start..end, &text);
    }
    Some(out)
}

fn box_text(b: Bbox, spaced: bool) -> String {
    let sep = if spaced { ", " } else { "," };
    format!("[{}{sep}{}{sep}{}{sep}{}]", b[0], b[1], b[2], b[3])
}

/// Where and what to insert for a new `bbox` member (after `type`, else first).
fn insertion(raw: &str, object: &Object<'_>, bbox: Bbox) -> (usize, usize, String) {
    let separator = if object.entries.len() >= 2 {
        raw[object.separator.0..object.separator.1].to_string()
    } else {
        ", ".to_string()
    };
    let colon = object
        .entries
        .first()
        .map_or(": ", |e| &raw[e.key_end..e.value_start_first]);
    let member = format!(
        "\"bbox\"{colon}{}",
        box_text(bbox, colon.contains(' ') || separator.contains(' '))
    );
    let type_at = object.entries.iter().position(|e| e.key.is("type"));
    match type_at {
        Some(i) => {
            let after = object.entries[i].value.end;
            (after, after, format!("{separator}{member}"))
        }
        None if object.entries.is_empty() => (object.members_start, object.members_start, member),
        None => (
            object.members_start,
            object.members_start,
            format!("{member}{separator}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRETTY: &str = "{\n  \"compositional_deconstruction\": {\n    \"background\": \"b\",\n    \"elements\": [\n      {\n        \"type\": \"obj\",\n        \"bbox\": [\n          10,\n          20,\n          300,\n          400\n        ],\n        \"desc\": \"a  fox\"\n      },\n      {\"type\": \"text\", \"text\": \"Hi\", \"desc\": \"sign\"},\n      {\"desc\":\"x\",\"type\":\"obj\"}\n    ]\n  }\n}";

    #[test]
    fn lists_elements_and_boxes() {
        let els = elements(PRETTY);
        assert_eq!(els.len(), 3);
        assert_eq!(els[0].bbox, Some([10, 20, 300, 400]));
        assert_eq!(els[0].label, "a fox");
        assert_eq!(
            (els[1].kind, els[1].label.as_str()),
            (ElementKind::Text, "Hi")
        );
        assert_eq!(els[1].bbox, None);
        assert!(!els[1].has_bbox_key);
        assert!(elements("{").is_empty());
    }

    #[test]
    fn rewrites_numbers_in_place_and_inserts_in_the_element_style() {
        let moved = set_bbox(PRETTY, 0, [15, 25, 305, 405]).unwrap();
        assert_eq!(
            moved,
            PRETTY
                .replace("10,\n", "15,\n")
                .replace("20,\n", "25,\n")
                .replace("300,", "305,")
                .replace("400\n", "405\n")
        );
        let added = set_bbox(PRETTY, 1, [0, 0, 500, 1000]).unwrap();
        assert_eq!(
            added,
            PRETTY.replace(
                "{\"type\": \"text\", \"text\"",
                "{\"type\": \"text\", \"bbox\": [0, 0, 500, 1000], \"text\""
            )
        );
        let added = set_bbox(PRETTY, 2, [1, 2, 3, 4]).unwrap();
        assert!(
            added.contains("{\"desc\":\"x\",\"type\":\"obj\",\"bbox\":[1,2,3,4]}"),
            "{added}"
        );
        assert_eq!(set_bbox(PRETTY, 3, [1, 2, 3, 4]), None);
        let broken = "{\"compositional_deconstruction\": {\"background\": \"\", \"elements\": [{\"type\": \"obj\", \"bbox\": [1, 2], \"desc\": \"d\"}]}}";
        assert_eq!(
            set_bbox(broken, 0, [1, 2, 3, 4]).unwrap(),
            broken.replace("[1, 2]", "[1, 2, 3, 4]")
        );
    }
}
