//! The structural rules of the official `CaptionVerifier.verify`, in its order, with its
//! message texts, plus where each warning points.
//!
//! Pointing rules: a warning about a value covers that value; one about keys covers the first
//! offending key token; a missing key covers the object that lacks it.

use std::cmp::Ordering;
use std::fmt::Write;

use super::fix::normalize_color;
use super::json::{Entry, JStr, Node, Object, Value};
use super::pyrepr::{repr_key_list, repr_tuple, repr_value, str_value, TupleItem};
use super::span::child_key;

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

/// Expected key orders, one per combination of the optional keys (`bbox`, `color_palette`)
/// so that no order has to be built at run time.
const STYLE_ORDER_PHOTO: [&str; 5] = ["aesthetics", "lighting", "photo", "medium", "color_palette"];
const STYLE_ORDER_ART: [&str; 5] = [
    "aesthetics",
    "lighting",
    "medium",
    "art_style",
    "color_palette",
];
pub(crate) const CD_ORDER: [&str; 2] = ["background", "elements"];
const OBJ_ORDERS: [&[&str]; 4] = [
    &["type", "desc"],
    &["type", "bbox", "desc"],
    &["type", "desc", "color_palette"],
    &["type", "bbox", "desc", "color_palette"],
];
const TEXT_ORDERS: [&[&str]; 4] = [
    &["type", "text", "desc"],
    &["type", "bbox", "text", "desc"],
    &["type", "text", "desc", "color_palette"],
    &["type", "bbox", "text", "desc", "color_palette"],
];

const STYLE_PALETTE_MAX: usize = 16;
const ELEMENT_PALETTE_MAX: usize = 5;
const BBOX_MIN: i64 = 0;
const BBOX_MAX: i64 = 1000;

/// The reference prints `self.element_types`, a frozenset whose order follows the string hash
/// seed; 'obj' first is one of the two forms it produces.
const ELEMENT_TYPES_REPR: &str = "frozenset({'obj', 'text'})";

/// The expected key order of a `style_description` that has exactly one of `photo` and
/// `art_style`, with `color_palette` only when present (it is always last).
pub(crate) fn style_order(sd: &Object<'_>) -> Option<&'static [&'static str]> {
    let full: &'static [&'static str] = match (sd.contains("photo"), sd.contains("art_style")) {
        (true, false) => &STYLE_ORDER_PHOTO,
        (false, true) => &STYLE_ORDER_ART,
        _ => return None,
    };
    Some(if sd.contains("color_palette") {
        full
    } else {
        &full[..4]
    })
}

/// The expected key order of an element whose `type` is "obj" or "text", with `bbox` and
/// `color_palette` only when present.
pub(crate) fn element_order(elem: &Object<'_>) -> Option<&'static [&'static str]> {
    let orders = match &elem.get("type")?.value.value {
        Value::Str(s) if s.is("obj") => &OBJ_ORDERS,
        Value::Str(s) if s.is("text") => &TEXT_ORDERS,
        _ => return None,
    };
    let index =
        usize::from(elem.contains("bbox")) + 2 * usize::from(elem.contains("color_palette"));
    Some(orders[index])
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

/// A place in the schema. Its message label and JSON path are only rendered when a warning
/// is emitted, so a clean caption is checked without building strings.
#[derive(Debug, Clone, Copy)]
enum Place {
    Root,
    Style,
    StylePalette,
    Cd,
    Element(usize),
    Bbox(usize),
    ElementPalette(usize),
}

impl Place {
    /// The prefix the official messages use, in a string with room for the rest of the
    /// message (this is where a message starts being built).
    fn label(self) -> String {
        let mut out = String::with_capacity(160);
        match self {
            Place::Root => out.push_str("root"),
            Place::Style => out.push_str("style_description"),
            Place::StylePalette => out.push_str("style_description.color_palette"),
            Place::Cd => out.push_str("compositional_deconstruction"),
            Place::Element(i) => {
                let _ = write!(out, "elements[{i}]");
            }
            Place::Bbox(i) => {
                let _ = write!(out, "elements[{i}].bbox");
            }
            Place::ElementPalette(i) => {
                let _ = write!(out, "elements[{i}].color_palette");
            }
        }
        out
    }

    /// The JSONPath of this place: the label under `$`, with the element places under
    /// `compositional_deconstruction` (their labels leave it out).
    fn path(self) -> String {
        match self {
            Place::Root => "$".into(),
            Place::Element(_) | Place::Bbox(_) | Place::ElementPalette(_) => {
                format!("$.compositional_deconstruction.{}", self.label())
            }
            _ => format!("$.{}", self.label()),
        }
    }

    /// The path of item `index` of the array at this place.
    fn item_path(self, index: usize) -> String {
        let mut out = self.path();
        let _ = write!(out, "[{index}]");
        out
    }
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
        self.unknown_keys(obj, &TOP_LEVEL_KEYS, Place::Root);
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
        if let Some(cd) = self.required(obj, "compositional_deconstruction", root, Place::Root) {
            self.compositional_deconstruction(&cd.value);
        }
    }

    fn style_description(&mut self, node: &Node<'_>) {
        let Value::Object(sd) = &node.value else {
            self.push(
                "style_description: expected a dict".into(),
                Place::Style.path(),
                span(node),
            );
            return;
        };
        self.unknown_keys(sd, &STYLE_KEYS, Place::Style);
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
                    child_key(&Place::Style.path(), &later.key),
                    key_span(later),
                );
                return;
            }
            (None, None) => {
                self.push(
                    "style_description: expected one of 'photo' (for photo captions) or \
                     'art_style' (for non-photo captions)"
                        .into(),
                    Place::Style.path(),
                    span(node),
                );
                return;
            }
            _ => {}
        }
        if let Some(order) = style_order(sd) {
            self.key_order(sd, node, order, Place::Style);
        }
        if let Some(palette) = sd.get("color_palette") {
            self.palette(&palette.value, Place::StylePalette, STYLE_PALETTE_MAX);
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
        let Some(background) = self.required(cd, "background", node, Place::Cd) else {
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
        let Some(elements) = self.required(cd, "elements", node, Place::Cd) else {
            return;
        };
        self.key_order(cd, node, &CD_ORDER, Place::Cd);
        let Value::Array(items) = &elements.value.value else {
            self.push(
                "compositional_deconstruction.elements: expected a list".into(),
                format!("{PATH}.elements"),
                span(&elements.value),
            );
            return;
        };
        for (i, item) in items.iter().enumerate() {
            self.element(i, item);
        }
    }

    fn element(&mut self, i: usize, node: &Node<'_>) {
        let place = Place::Element(i);
        let Value::Object(elem) = &node.value else {
            self.push(
                format!("elements[{i}]: expected a dict"),
                place.path(),
                span(node),
            );
            return;
        };
        self.unknown_keys(elem, &ELEMENT_KEYS, place);
        let Some(kind) = self.required(elem, "type", node, place) else {
            return;
        };
        // The reference raises TypeError for list/dict types (unhashable in a frozenset
        // lookup); reporting them like any other bad type is what the spec asks of a port.
        let Some(order) = element_order(elem) else {
            self.push(
                format!("elements[{i}]: 'type' must be one of {ELEMENT_TYPES_REPR}"),
                format!("{}.type", place.path()),
                span(&kind.value),
            );
            return;
        };
        self.key_order(elem, node, order, place);
        if let Some(bbox) = elem.get("bbox") {
            self.bbox(i, &bbox.value);
        }
        if let Some(palette) = elem.get("color_palette") {
            self.palette(
                &palette.value,
                Place::ElementPalette(i),
                ELEMENT_PALETTE_MAX,
            );
        }
    }

    fn bbox(&mut self, i: usize, node: &Node<'_>) {
        let place = Place::Bbox(i);
        let items = match &node.value {
            Value::Array(items) if items.len() == 4 => items,
            _ => {
                self.push(
                    format!("elements[{i}].bbox: expected [ymin, xmin, ymax, xmax]"),
                    place.path(),
                    span(node),
                );
                return;
            }
        };
        let mut ints = [PyInt::Bool(false); 4];
        for (k, item) in items.iter().enumerate() {
            match PyInt::from_value(&item.value) {
                Some(v) => ints[k] = v,
                None => {
                    self.push(
                        format!("elements[{i}].bbox: all values must be int"),
                        place.item_path(k),
                        span(item),
                    );
                    return;
                }
            }
        }
        if let Some(k) = ints.iter().position(|v| !v.in_range(BBOX_MIN, BBOX_MAX)) {
            let mut message =
                format!("elements[{i}].bbox: values must be in [{BBOX_MIN}, {BBOX_MAX}], got ");
            repr_value(&mut message, node);
            self.push(message, place.item_path(k), span(&items[k]));
        }
        let [ymin, xmin, ymax, xmax] = ints;
        if ymin.compare(&ymax) == Ordering::Greater {
            self.push(
                format!(
                    "elements[{i}].bbox: ymin ({}) > ymax ({})",
                    ymin.py_str(),
                    ymax.py_str()
                ),
                place.path(),
                span(node),
            );
        }
        if xmin.compare(&xmax) == Ordering::Greater {
            self.push(
                format!(
                    "elements[{i}].bbox: xmin ({}) > xmax ({})",
                    xmin.py_str(),
                    xmax.py_str()
                ),
                place.path(),
                span(node),
            );
        }
    }

    fn palette(&mut self, node: &Node<'_>, place: Place, max: usize) {
        let Value::Array(colors) = &node.value else {
            self.push(
                format!("{}: expected a list", place.label()),
                place.path(),
                span(node),
            );
            return;
        };
        if colors.len() > max {
            self.push(
                format!(
                    "{}: too many colors ({}), expected at most {max}",
                    place.label(),
                    colors.len()
                ),
                place.path(),
                span(node),
            );
            return;
        }
        for (j, color) in colors.iter().enumerate() {
            let valid = matches!(&color.value, Value::Str(s) if is_valid_color(&s.wtf8));
            if valid {
                continue;
            }
            let mut message = place.label();
            let _ = write!(message, "[{j}]: '");
            str_value(&mut message, color);
            message.push_str("' is not a valid #RRGGBB hex color");
            let fixable = matches!(&color.value, Value::Str(s) if normalize_color(s).is_some());
            self.push_fixable(message, place.item_path(j), span(color), fixable);
        }
    }

    /// `obj[key]`; when it is absent, the official "'key' must exist" message at `place`
    /// (spanning `node`, the object).
    fn required<'o, 'j>(
        &mut self,
        obj: &'o Object<'j>,
        key: &str,
        node: &Node<'_>,
        place: Place,
    ) -> Option<&'o Entry<'j>> {
        let entry = obj.get(key);
        if entry.is_none() {
            let mut message = place.label();
            let _ = write!(message, ": '{key}' must exist");
            self.push(message, place.path(), span(node));
        }
        entry
    }

    fn unknown_keys(&mut self, obj: &Object<'_>, known: &[&str], place: Place) {
        self.keys_outside(obj, known, place, ": unknown keys ", " (not in schema)");
    }

    /// One message listing the keys of `obj` outside `allowed` (`label` + `before` + their
    /// list + `after`), pointing at the first of them.
    fn keys_outside(
        &mut self,
        obj: &Object<'_>,
        allowed: &[&str],
        place: Place,
        before: &str,
        after: &str,
    ) {
        let mut outside = obj.entries.iter().filter(|e| !is_one_of(&e.key, allowed));
        let Some(first) = outside.next() else {
            return;
        };
        let mut message = place.label();
        message.push_str(before);
        repr_key_list(
            &mut message,
            std::iter::once(first).chain(outside).map(|e| &e.key),
        );
        message.push_str(after);
        self.push(
            message,
            child_key(&place.path(), &first.key),
            key_span(first),
        );
    }

    fn key_order(&mut self, obj: &Object<'_>, node: &Node<'_>, expected: &[&str], place: Place) {
        let present = || obj.entries.iter().filter(|e| is_one_of(&e.key, expected));
        // Keys are unique, so at most `expected.len()` of them are present.
        let mut count = 0;
        let mut first_misplaced = None;
        for (entry, name) in present().zip(expected) {
            if first_misplaced.is_none() && !entry.key.is(name) {
                first_misplaced = Some(entry);
            }
            count += 1;
        }
        if first_misplaced.is_some() || count != expected.len() {
            let mut message = place.label();
            message.push_str(": key order is ");
            repr_tuple(&mut message, present().map(|e| TupleItem::Key(&e.key)));
            message.push_str(", expected ");
            repr_tuple(&mut message, expected.iter().map(|n| TupleItem::Name(n)));
            let range = match first_misplaced {
                Some(entry) => key_span(entry),
                None => span(node),
            };
            // Reordering fixes it only when no expected key is missing, and the fixer leaves
            // objects with duplicate keys alone (which member to keep is the user's call).
            let fixable = count == expected.len() && !obj.has_duplicates;
            self.push_fixable(message, place.path(), range, fixable);
        }
        let not_allowed = " are not allowed in this context";
        self.keys_outside(obj, expected, place, ": keys ", not_allowed);
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
