//! PNG with the `parameters` record in an iTXt chunk.

use std::io::Cursor;

use super::{OutputError, RgbImage, PARAMETERS_KEYWORD};

/// Encode `image` as an 8-bit RGB PNG whose header carries an uncompressed iTXt chunk
/// `parameters` = `json` (placed before the image data so readers find it without decoding).
pub fn encode(image: &RgbImage<'_>, json: &str) -> Result<Vec<u8>, OutputError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width(), image.height());
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .add_itxt_chunk(PARAMETERS_KEYWORD.to_string(), json.to_string())
        .map_err(png_err)?;
    let mut writer = encoder.write_header().map_err(png_err)?;
    writer.write_image_data(image.pixels()).map_err(png_err)?;
    writer.finish().map_err(png_err)?;
    Ok(out)
}

/// The `parameters` text of a PNG: an iTXt (ours), zTXt or tEXt chunk with that keyword,
/// before or after the image data.
pub fn read_parameters(bytes: &[u8]) -> Result<Option<String>, OutputError> {
    let decoder = png::Decoder::new(Cursor::new(bytes));
    let mut reader = decoder.read_info().map_err(png_decode_err)?;
    if let Some(text) = find_text(reader.info())? {
        return Ok(Some(text));
    }
    // Chunks after IDAT are only parsed once the image data has been consumed.
    reader.finish().map_err(png_decode_err)?;
    find_text(reader.info())
}

fn find_text(info: &png::Info<'_>) -> Result<Option<String>, OutputError> {
    if let Some(chunk) = info
        .utf8_text
        .iter()
        .find(|c| c.keyword == PARAMETERS_KEYWORD)
    {
        return chunk.get_text().map(Some).map_err(png_decode_err);
    }
    if let Some(chunk) = info
        .compressed_latin1_text
        .iter()
        .find(|c| c.keyword == PARAMETERS_KEYWORD)
    {
        return chunk.get_text().map(Some).map_err(png_decode_err);
    }
    Ok(info
        .uncompressed_latin1_text
        .iter()
        .find(|c| c.keyword == PARAMETERS_KEYWORD)
        .map(|c| c.text.clone()))
}

fn png_err(e: png::EncodingError) -> OutputError {
    OutputError::Encode(format!("PNG: {e}"))
}

fn png_decode_err(e: png::DecodingError) -> OutputError {
    OutputError::Metadata(format!("PNG: {e}"))
}
