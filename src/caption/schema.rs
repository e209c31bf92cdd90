//! The structural rules of the official `CaptionVerifier.verify`, in its order, with its
//! message texts, plus where each warning points.
//!
//! Pointing rules: a warning about a value covers that value; one about keys covers the first
//! offending key token; a missing key covers the object that lacks it.

use std::cmp::Ordering;

use super::fix::normalize_color;
use super::json::{Entry, JStr, Node, Object, Value};
use super::pyrepr::{repr_key_list, repr_tuple, repr_value, str_value, TupleItem};
use super::span::{child_index, child_key};

/// A warning before its byte range is turned into lines and columns.
#[derive(Debug, Clone)]
pub(crate) struct Draft {
    pub message: String,
    pub json_path: String,
    pub range: (usize, usize),
    pub fixable: bool,
}

const TOP_LEVEL_KEYS: [&str; 3] = [
    "high_level_description",
    "style_description",
    "compositional_deconstruction",
];
const STYLE_KEYS: [&str; 6] = [
    "aesthetics",
    "lighting",
    "photo",
    "art_style",
    "medium",
    "color_palette",
];
const ELEMENT_KEYS: [&str; 5] = ["type", "bbox", "text", "desc", "color_palette"];

pub(crate) const STYLE_ORDER_PHOTO: [&str; 5] =
    ["aesthetics", "lighting", "photo", "medium", "color_palette"];
pub(crate) const STYLE_ORDER_ART: [&str; 5] = [
    "aesthetics",
    "lighting",
    "medium",
    "art_style",
    "color_palette",
];
pub(crate) const CD_ORDER: [&str; 2] = ["background", "elements"];
pub(crate) const ELEMENT_ORDER_OBJ: [&str; 4] = ["type", "bbox", "desc", "color_palette"];
pub(crate) const ELEMENT_ORDER_TEXT: [&str; 5] = ["type", "bbox", "text", "desc", "color_palette"];

const STYLE_PALETTE_MAX: usize = 16;
const ELEMENT_PALETTE_MAX: usize = 5;
const BBOX_MIN: i64 = 0;
const BBOX_MAX: i64 = 1000;

/// The reference prints `self.element_types`, a frozenset whose order follows the string hash
/// seed; 'obj' first is one of the two forms it produces.
const ELEMENT_TYPES_REPR: &str = "frozenset({'obj', 'text'})";

/// The expected key order of a `style_description` that has exactly one of `photo` and
/// `art_style`, with `color_palette` only when present.
pub(crate) fn style_order(sd: &Object<'_>) -> Option<Vec<&'static str>> {
    let base = match (sd.contains("photo"), sd.contains("art_style")) {
        (true, false) => &STYLE_ORDER_PHOTO,
        (false, true) => &STYLE_ORDER_ART,
        _ => return None,
    };
    Some(optional_keys(base, sd, &["color_palette"]))
}

/// The expected key order of an element whose `type` is "obj" or "text".
pub(crate) fn element_order(elem: &Object<'_>) -> Option<Vec<&'static str>> {
    let base: &[&'static str] = match &elem.get("type")?.value.value {
        Value::Str(s) if s.is("obj") => &ELEMENT_ORDER_OBJ,
        Value::Str(s) if s.is("text") => &ELEMENT_ORDER_TEXT,
        _ => return None,
    };
    Some(optional_keys(base, elem, &["bbox", "color_palette"]))
}

fn optional_keys(base: &[&'static str], obj: &Object<'_>, optional: &[&str]) -> Vec<&'static str> {
    base.iter()
        .copied()
        .filter(|k| !optional.contains(k) || obj.contains(k))
        .collect()
}

fn is_one_of(key: &JStr<'_>, names: &[&str]) -> bool {
    names.iter().any(|n| key.is(n))
}

/// Runs every structural rule on a parsed caption.
pub(crate) fn check(root: &Node<'_>) -> Vec<Draft> {
    let mut checker = Checker { out: Vec::new() };
    checker.root(root);
    checker.out
}

struct Checker {
    out: Vec<Draft>,
}

impl Checker {
    fn push(&mut self, message: String, json_path: String, range: (usize, usize)) {
        self.push_fixable(message, json_path, range, false);
    }

    fn push_fixable(
        &mut self,
        message: String,
        json_path: String,
        range: (usize, usize),
        fixable: bool,
    ) {
        self.out.push(Draft {
            message,
            json_path,
            range,
            fixable,
        });
    }

    fn root(&mut self, root: &Node<'_>) {
        let Value::Object(obj) = &root.value else {
            self.push(
                format!(
                    "root: expected a JSON object (dict), got {}",
                    root.value.py_type_name()
                ),
                "$".into(),
                span(root),
            );
            return;
        };
        self.unknown_keys(obj, &TOP_LEVEL_KEYS, "root", "$");
        if let Some(hld) = obj.get("high_level_description") {
            if !matches!(hld.value.value, Value::Str(_)) {
                self.push(
                    format!(
                        "high_level_description: expected a string, got {}",
                        hld.value.value.py_type_name()
                    ),
                    "$.high_level_description".into(),
                    span(&hld.value),
                );
            }
        }
        if let Some(sd) = obj.get("style_description") {
            self.style_description(&sd.value);
        }
        match obj.get("compositional_deconstruction") {
            Some(cd) => self.compositional_deconstruction(&cd.value),
            None => self.push(
                "root: 'compositional_deconstruction' must exist".into(),
                "$".into(),
                span(root),
            ),
        }
    }

    fn style_description(&mut self, node: &Node<'_>) {
        const PATH: &str = "$.style_description";
        let Value::Object(sd) = &node.value else {
            self.push(
                "style_description: expected a dict".into(),
                PATH.into(),
                span(node),
            );
            return;
        };
        self.unknown_keys(sd, &STYLE_KEYS, "style_description", PATH);
        let photo = sd.get("photo");
        let art_style = sd.get("art_style");
        match (photo, art_style) {
            (Some(photo), Some(art_style)) => {
                // Point at whichever of the two comes second: that is the one to remove.
                let later = if photo.key_start > art_style.key_start {
                    photo
                } else {
                    art_style
                };
                self.push(
                    "style_description: contains both 'photo' and 'art_style'; expected exactly one"
                        .into(),
                    child_key(PATH, &later.key),
                    key_span(later),
                );
                return;
            }
            (None, None) => {
                self.push(
                    "style_description: expected one of 'photo' (for photo captions) or \
                     'art_style' (for non-photo captions)"
                        .into(),
                    PATH.into(),
                    span(node),
                );
                return;
            }
            _ => {}
        }
        if let Some(order) = style_order(sd) {
            self.key_order(sd, node, &order, "style_description", PATH);
        }
        if let Some(palette) = sd.get("color_palette") {
            self.palette(
                &palette.value,
                "style_description.color_palette",
                "$.style_description.color_palette",
                STYLE_PALETTE_MAX,
            );
        }
    }

    fn compositional_deconstruction(&mut self, node: &Node<'_>) {
        const PATH: &str = "$.compositional_deconstruction";
        let Value::Object(cd) = &node.value else {
            self.push(
                "compositional_deconstruction: expected a dict".into(),
                PATH.into(),
                span(node),
            );
            return;
        };
        let Some(background) = cd.get("background") else {
            self.push(
                "compositional_deconstruction: 'background' must exist".into(),
                PATH.into(),
                span(node),
            );
            return;
        };
        if !matches!(background.value.value, Value::Str(_)) {
            self.push(
                format!(
                    "compositional_deconstruction.background: expected a string, got {}",
                    background.value.value.py_type_name()
                ),
                format!("{PATH}.background"),
                span(&background.value),
            );
            return;
        }
        let Some(elements) = cd.get("elements") else {
            self.push(
                "compositional_deconstruction: 'elements' must exist".into(),
                PATH.into(),
                span(node),
            );
            return;
        };
        self.key_order(cd, node, &CD_ORDER, "compositional_deconstruction", PATH);
        let Value::Array(items) = &elements.value.value else {
            self.push(
                "compositional_deconstruction.elements: expected a list".into(),
                format!("{PATH}.elements"),
                span(&elements.value),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            self.element(i, item, &format!("{PATH}.elements[{i}]"));
        }
    }

    fn element(&mut self, i: usize, node: &Node<'_>, path: &str) {
        let label = format!("elements[{i}]");
        let Value::Object(elem) = &node.value else {
            self.push(format!("{label}: expected a dict"), path.into(), span(node));
            return;
        };
        self.unknown_keys(elem, &ELEMENT_KEYS, &label, path);
        let Some(kind) = elem.get("type") else {
            self.push(
                format!("{label}: 'type' must exist"),
                path.into(),
                span(node),
            );
            return;
        };
        // The reference raises TypeError for list/dict types (unhashable in a frozenset
        // lookup); reporting them like any other bad type is what the spec asks of a port.
        let Some(order) = element_order(elem) else {
            self.push(
                format!("{label}: 'type' must be one of {ELEMENT_TYPES_REPR}"),
                format!("{path}.type"),
                span(&kind.value),
            );
            return;
        };
        self.key_order(elem, node, &order, &label, path);
        if let Some(bbox) = elem.get("bbox") {
            self.bbox(&label, &bbox.value, &format!("{path}.bbox"));
        }
        if let Some(palette) = elem.get("color_palette") {
            self.palette(
                &palette.value,
                &format!("{label}.color_palette"),
                &format!("{path}.color_palette"),
                ELEMENT_PALETTE_MAX,
            );
        }
    }

    fn bbox(&mut self, label: &str, node: &Node<'_>, path: &str) {
        let items = match &node.value {
            Value::Array(items) if items.len() == 4 => items,
            _ => {
                self.push(
                    format!("{label}.bbox: expected [ymin, xmin, ymax, xmax]"),
                    path.into(),
                    span(node),
                );
                return;
            }
        };
        let mut ints = Vec::with_capacity(4);
        for (k, item) in items.iter().enumerate() {
            match PyInt::from_value(&item.value) {
                Some(v) => ints.push(v),
                None => {
                    self.push(
                        format!("{label}.bbox: all values must be int"),
                        child_index(path, k),
                        span(item),
                    );
                    return;
                }
            }
        }
        if let Some(k) = ints.iter().position(|v| !v.in_range(BBOX_MIN, BBOX_MAX)) {
            let mut message =
                format!("{label}.bbox: values must be in [{BBOX_MIN}, {BBOX_MAX}], got ");
            repr_value(&mut message, node);
            self.push(message, child_index(path, k), span(&items[k]));
        }
        let [ymin, xmin, ymax, xmax] = [ints[0], ints[1], ints[2], ints[3]];
        if ymin.compare(&ymax) == Ordering::Greater {
            self.push(
                format!(
                    "{label}.bbox: ymin ({}) > ymax ({})",
                    ymin.py_str(),
                    ymax.py_str()
                ),
                path.into(),
                span(node),
            );
        }
        if xmin.compare(&xmax) == Ordering::Greater {
            self.push(
                format!(
                    "{label}.bbox: xmin ({}) > xmax ({})",
                    xmin.py_str(),
                    xmax.py_str()
                ),
                path.into(),
                span(node),
            );
        }
    }

    fn palette(&mut self, node: &Node<'_>, label: &str, path: &str, max: usize) {
        let Value::Array(colors) = &node.value else {
            self.push(format!("{label}: expected a list"), path.into(), span(node));
            return;
        };
        if colors.len() > max {
            self.push(
                format!(
                    "{label}: too many colors ({}), expected at most {max}",
                    colors.len()
                ),
                path.into(),
                span(node),
            );
            return;
        }
        for (j, color) in colors.iter().enumerate() {
            let valid = matches!(&color.value, Value::Str(s) if is_valid_color(&s.wtf8));
            if valid {
                continue;
            }
            let mut message = format!("{label}[{j}]: '");
            str_value(&mut message, color);
            message.push_str("' is not a valid #RRGGBB hex color");
            let fixable = matches!(&color.value, Value::Str(s) if normalize_color(s).is_some());
            self.push_fixable(message, child_index(path, j), span(color), fixable);
        }
    }

    fn unknown_keys(&mut self, obj: &Object<'_>, known: &[&str], label: &str, path: &str) {
        let unknown: Vec<&Entry<'_>> = obj
            .entries
            .iter()
            .filter(|e| !is_one_of(&e.key, known))
            .collect();
        let Some(first) = unknown.first() else {
            return;
        };
        let mut message = format!("{label}: unknown keys ");
        repr_key_list(&mut message, unknown.iter().map(|e| &e.key));
        message.push_str(" (not in schema)");
        self.push(message, child_key(path, &first.key), key_span(first));
    }

    fn key_order(
        &mut self,
        obj: &Object<'_>,
        node: &Node<'_>,
        expected: &[&'static str],
        label: &str,
        path: &str,
    ) {
        let present: Vec<&Entry<'_>> = obj
            .entries
            .iter()
            .filter(|e| is_one_of(&e.key, expected))
            .collect();
        let first_misplaced = present
            .iter()
            .zip(expected)
            .position(|(entry, name)| !entry.key.is(name));
        if first_misplaced.is_some() || present.len() != expected.len() {
            let mut message = format!("{label}: key order is ");
            repr_tuple(&mut message, present.iter().map(|e| TupleItem::Key(&e.key)));
            message.push_str(", expected ");
            repr_tuple(&mut message, expected.iter().map(|n| TupleItem::Name(n)));
            let range = match first_misplaced {
                Some(k) => key_span(present[k]),
                None => span(node),
            };
            // Reordering fixes it only when no expected key is missing.
            let fixable = present.len() == expected.len();
            self.push_fixable(message, path.into(), range, fixable);
        }
        let extra: Vec<&Entry<'_>> = obj
            .entries
            .iter()
            .filter(|e| !is_one_of(&e.key, expected))
            .collect();
        if let Some(first) = extra.first() {
            let mut message = format!("{label}: keys ");
            repr_key_list(&mut message, extra.iter().map(|e| &e.key));
            message.push_str(" are not allowed in this context");
            self.push(message, child_key(path, &first.key), key_span(first));
        }
    }
}

fn span(node: &Node<'_>) -> (usize, usize) {
    (node.start, node.end)
}

fn key_span(entry: &Entry<'_>) -> (usize, usize) {
    (entry.key_start, entry.key_end)
}

/// The reference's colour test: 7 code points, `#`, then six of `0123456789ABCDEF`.
fn is_valid_color(s: &[u8]) -> bool {
    s.len() == 7
        && s[0] == b'#'
        && s[1..]
            .iter()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b))
}

/// A Python int as the bbox check sees it: JSON integers of any size, and booleans
/// (`isinstance(True, int)` holds, and `True == 1`).
#[derive(Debug, Clone, Copy)]
enum PyInt<'a> {
    Bool(bool),
    Int(&'a str),
}

impl<'a> PyInt<'a> {
    fn from_value(value: &Value<'a>) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(PyInt::Bool(*b)),
            Value::Int(i) => Some(PyInt::Int(i.py_str())),
            _ => None,
        }
    }

    fn py_str(&self) -> &'a str {
        match self {
            PyInt::Bool(true) => "True",
            PyInt::Bool(false) => "False",
            PyInt::Int(text) => text,
        }
    }

    /// Sign and magnitude digits (no leading zeros, zero is non-negative).
    fn parts(&self) -> (bool, &'a str) {
        match self {
            PyInt::Bool(true) => (false, "1"),
            PyInt::Bool(false) => (false, "0"),
            PyInt::Int(text) => match text.strip_prefix('-') {
                Some(digits) => (true, digits),
                None => (false, text),
            },
        }
    }

    fn compare(&self, other: &Self) -> Ordering {
        let (neg_a, a) = self.parts();
        let (neg_b, b) = other.parts();
        let magnitude = a.len().cmp(&b.len()).then_with(|| a.cmp(b));
        match (neg_a, neg_b) {
            (false, false) => magnitude,
            (true, true) => magnitude.reverse(),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
        }
    }

    fn in_range(&self, min: i64, max: i64) -> bool {
        let (negative, digits) = self.parts();
        // Digits too long for i64 are far outside any range checked here.
        digits.parse::<i64>().is_ok_and(|v| {
            let v = if negative { -v } else { v };
            (min..=max).contains(&v)
        })
    }
}
