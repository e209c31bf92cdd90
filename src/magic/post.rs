//! The official post-processing shared by every backend: the aspect ratio string, and the
//! strip step that deletes `aspect_ratio` and (by default) every element's `bbox`.

use crate::caption::format;
use crate::caption::json::{self, Object, Value};

/// `"W:H"` reduced by the greatest common divisor (`1920×1088` → `30:17`); a zero gcd counts
/// as 1, as in the official helper.
pub fn aspect_ratio_from_size(width: u32, height: u32) -> String {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let g = gcd(width, height).max(1);
    format!("{}:{}", width / g, height / g)
}

/// The caption minified with the top-level `aspect_ratio` deleted and, when `strip_bboxes`,
/// `bbox` deleted from every element object. `None` when the text is not JSON.
pub fn strip_aspect_ratio_and_bboxes(raw: &str, strip_bboxes: bool) -> Option<String> {
    let minified = format::minify(raw).ok()?;
    let root = json::parse(&minified).ok()?;
    let Value::Object(top) = &root.value else {
        return Some(minified);
    };
    let mut cuts = Vec::new();
    cut_key(top, "aspect_ratio", &mut cuts);
    if strip_bboxes {
        let elements =
            top.get("compositional_deconstruction")
                .and_then(|cd| match &cd.value.value {
                    Value::Object(o) => o.get("elements"),
                    _ => None,
                });
        if let Some(Value::Array(items)) = elements.map(|e| &e.value.value) {
            for item in items {
                if let Value::Object(o) = &item.value {
                    cut_key(o, "bbox", &mut cuts);
                }
            }
        }
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(minified.len());
    let mut at = 0;
    for (start, end) in cuts {
        out.push_str(&minified[at..start]);
        at = end;
    }
    out.push_str(&minified[at..]);
    Some(out)
}

/// The byte range that removes `key` and one neighbouring comma from a minified object.
fn cut_key(object: &Object<'_>, key: &str, cuts: &mut Vec<(usize, usize)>) {
    let Some(i) = object.entries.iter().position(|e| e.key.is(key)) else {
        return;
    };
    let entry = &object.entries[i];
    let range = if i > 0 {
        (entry.key_start - 1, entry.value.end)
    } else if object.entries.len() > 1 {
        (entry.key_start, entry.value.end + 1)
    } else {
        (entry.key_start, entry.value.end)
    };
    cuts.push(range);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratios_as_the_official_helper() {
        assert_eq!(aspect_ratio_from_size(1024, 1024), "1:1");
        assert_eq!(aspect_ratio_from_size(1920, 1088), "30:17");
        assert_eq!(aspect_ratio_from_size(1280, 720), "16:9");
        assert_eq!(aspect_ratio_from_size(0, 0), "0:0");
    }

    #[test]
    fn strips_aspect_ratio_and_bboxes_keeping_order() {
        let raw = r#"{"aspect_ratio": "16:9", "high_level_description": "Ä fox",
            "compositional_deconstruction": {"background": "snow", "elements": [
              {"type": "obj", "bbox": [1, 2, 3, 4], "desc": "fox"},
              {"bbox": [5, 6, 7, 8]},
              {"type": "text", "text": "Hi", "desc": "sign", "bbox": [0, 0, 9, 9]}]}}"#;
        assert_eq!(
            strip_aspect_ratio_and_bboxes(raw, true).unwrap(),
            r#"{"high_level_description":"Ä fox","compositional_deconstruction":{"background":"snow","elements":[{"type":"obj","desc":"fox"},{},{"type":"text","text":"Hi","desc":"sign"}]}}"#
        );
        assert_eq!(
            strip_aspect_ratio_and_bboxes(raw, false).unwrap(),
            r#"{"high_level_description":"Ä fox","compositional_deconstruction":{"background":"snow","elements":[{"type":"obj","bbox":[1,2,3,4],"desc":"fox"},{"bbox":[5,6,7,8]},{"type":"text","text":"Hi","desc":"sign","bbox":[0,0,9,9]}]}}"#
        );
        assert_eq!(
            strip_aspect_ratio_and_bboxes(r#"{"aspect_ratio":"1:1"}"#, true).unwrap(),
            "{}"
        );
        assert_eq!(
            strip_aspect_ratio_and_bboxes("[1, 2]", true).unwrap(),
            "[1,2]"
        );
        assert!(strip_aspect_ratio_and_bboxes("{", true).is_none());
    }
}
