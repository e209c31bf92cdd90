//! A minimal XMP packet carrying the `parameters` JSON, for JPEG (APP1) and WebP (`XMP `).

use super::OutputError;

/// Namespace of our property. `.invalid` is a reserved TLD: this is a name, not a URL to visit.
pub const NAMESPACE: &str = "https://ideogram4-tui.invalid/ns/1.0/";
const OPEN: &str = "<ideogram4:parameters>";
const CLOSE: &str = "</ideogram4:parameters>";

/// Identifier that starts an XMP APP1 segment in JPEG files.
pub const JPEG_XMP_HEADER: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";

/// The XMP packet (UTF-8) holding `json` as the text of `ideogram4:parameters`.
pub fn packet(json: &str) -> Vec<u8> {
    let mut out = String::with_capacity(json.len() + 512);
    out.push_str("<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n");
    out.push_str("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n");
    out.push_str(" <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n");
    out.push_str("  <rdf:Description rdf:about=\"\" xmlns:ideogram4=\"");
    out.push_str(NAMESPACE);
    out.push_str("\">\n   ");
    out.push_str(OPEN);
    escape_into(json, &mut out);
    out.push_str(CLOSE);
    out.push_str("\n  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>");
    out.into_bytes()
}

/// The `parameters` text of a packet written by [`packet`], unescaped; `None` when the packet
/// has no such property (XMP written by another program).
pub fn extract(packet: &[u8]) -> Result<Option<String>, OutputError> {
    let text = std::str::from_utf8(packet)
        .map_err(|_| OutputError::Metadata("XMP packet is not UTF-8".into()))?;
    let Some(start) = text.find(OPEN) else {
        return Ok(None);
    };
    let body = &text[start + OPEN.len()..];
    let Some(end) = body.find(CLOSE) else {
        return Err(OutputError::Metadata(
            "XMP packet has an unterminated ideogram4:parameters element".into(),
        ));
    };
    unescape(&body[..end]).map(Some)
}

fn escape_into(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(ch),
        }
    }
}

fn unescape(text: &str) -> Result<String, OutputError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .ok_or_else(|| OutputError::Metadata("XMP text has an unterminated entity".into()))?;
        let entity = &after[..semi];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32).ok_or_else(|| {
                    OutputError::Metadata(format!("XMP text has an unknown entity &{entity};"))
                })?
            }
        };
        out.push(ch);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_markup_characters() {
        let json = r#"{"caption":"a <b> & \"c\" → 日本 </ideogram4:parameters>","seed":1}"#;
        let p = packet(json);
        assert_eq!(extract(&p).unwrap().as_deref(), Some(json));
    }

    #[test]
    fn entities_and_foreign_packets() {
        assert_eq!(unescape("a&#x41;&#66;&quot;&apos;").unwrap(), "aAB\"'");
        assert!(unescape("a&bogus;").is_err());
        assert!(unescape("a&amp").is_err());
        assert_eq!(extract(b"<x:xmpmeta/>").unwrap(), None);
    }
}
