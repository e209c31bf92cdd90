//! JPEG with the `parameters` record in an XMP (APP1) segment.

use super::{xmp, OutputError, RgbImage};

/// Largest payload of one APP segment (65535 minus the two length bytes).
const MAX_SEGMENT: usize = 65_533;

/// Encode `image` at `quality` (1–100). With `Some(json)` the XMP packet is embedded; it
/// returns `Ok((bytes, false))` when the packet would not fit in one APP1 segment (~64 KiB),
/// in which case the caller writes a sidecar instead.
pub fn encode(
    image: &RgbImage<'_>,
    json: &str,
    quality: u8,
) -> Result<(Vec<u8>, bool), OutputError> {
    let (w, h) = (u16::try_from(image.width()), u16::try_from(image.height()));
    let (Ok(w), Ok(h)) = (w, h) else {
        return Err(OutputError::Encode(format!(
            "JPEG: {}x{} exceeds the format's 65535-pixel limit",
            image.width(),
            image.height()
        )));
    };
    let mut segment = xmp::JPEG_XMP_HEADER.to_vec();
    segment.extend_from_slice(&xmp::packet(json));
    let embedded = segment.len() <= MAX_SEGMENT;

    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality.clamp(1, 100));
    if embedded {
        encoder
            .add_app_segment(1, &segment)
            .map_err(|e| OutputError::Encode(format!("JPEG: {e}")))?;
    }
    encoder
        .encode(image.pixels(), w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| OutputError::Encode(format!("JPEG: {e}")))?;
    Ok((out, embedded))
}

/// The `parameters` text from the first XMP APP1 segment that has one.
pub fn read_parameters(bytes: &[u8]) -> Result<Option<String>, OutputError> {
    for segment in app1_segments(bytes)? {
        if let Some(packet) = segment.strip_prefix(xmp::JPEG_XMP_HEADER) {
            if let Some(text) = xmp::extract(packet)? {
                return Ok(Some(text));
            }
        }
    }
    Ok(None)
}

/// Payloads of the APP1 segments before the first scan.
fn app1_segments(bytes: &[u8]) -> Result<Vec<&[u8]>, OutputError> {
    let bad = |why: &str| OutputError::Metadata(format!("JPEG: {why}"));
    if bytes.get(..2) != Some(&[0xFF, 0xD8]) {
        return Err(bad("missing start-of-image marker"));
    }
    let mut pos = 2;
    let mut found = Vec::new();
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        if bytes.get(pos) != Some(&0xFF) {
            return Err(bad("expected a marker"));
        }
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let marker = *bytes.get(pos).ok_or_else(|| bad("truncated marker"))?;
        pos += 1;
        match marker {
            // Start of scan or end of image: no more header segments.
            0xDA | 0xD9 => return Ok(found),
            // Stand-alone markers without a length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len_bytes = bytes
            .get(pos..pos + 2)
            .ok_or_else(|| bad("truncated segment"))?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return Err(bad("invalid segment length"));
        }
        let payload = bytes
            .get(pos + 2..pos + len)
            .ok_or_else(|| bad("truncated segment"))?;
        if marker == 0xE1 {
            found.push(payload);
        }
        pos += len;
    }
}
