//! Lossless WebP with the `parameters` record in an `XMP ` chunk.

use std::io::Cursor;

use super::{xmp, OutputError, RgbImage};

/// Encode `image` as lossless WebP (VP8L) with the XMP packet in the extended container.
pub fn encode(image: &RgbImage<'_>, json: &str) -> Result<Vec<u8>, OutputError> {
    let mut out = Vec::new();
    let mut encoder = image_webp::WebPEncoder::new(&mut out);
    encoder.set_xmp_metadata(xmp::packet(json));
    encoder
        .encode(
            image.pixels(),
            image.width(),
            image.height(),
            image_webp::ColorType::Rgb8,
        )
        .map_err(|e| OutputError::Encode(format!("WebP: {e}")))?;
    Ok(out)
}

/// The `parameters` text from the file's XMP chunk, if any.
pub fn read_parameters(bytes: &[u8]) -> Result<Option<String>, OutputError> {
    let mut decoder = image_webp::WebPDecoder::new(Cursor::new(bytes))
        .map_err(|e| OutputError::Metadata(format!("WebP: {e}")))?;
    let packet = decoder
        .xmp_metadata()
        .map_err(|e| OutputError::Metadata(format!("WebP: {e}")))?;
    match packet {
        Some(packet) => xmp::extract(&packet),
        None => Ok(None),
    }
}
