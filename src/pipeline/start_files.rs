//! Source and mask images for image to image, inpainting and outpainting: reading them
//! (PNG, JPEG, WebP), fitting the source to the job's size (crop or pad, aspect kept,
//! Lanczos), masks to luma, outpaint canvases, and the SHA-256 that records identify files by.
//! Every adjustment made on the user's behalf comes back as a note to show.

use std::path::Path;

use image::imageops::{self, FilterType};
use image::{GrayImage, RgbImage};

use crate::output::ImageFormat;

/// Largest source side kept as is; bigger sources are scaled down first.
pub const MAX_SOURCE_SIDE: u32 = 2048;

/// Grey of padding and outpaint borders before they are repainted.
const PAD_GREY: u8 = 128;

#[derive(Debug, thiserror::Error)]
pub enum StartFileError {
    #[error("{path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    Geometry(String),
}

pub type Result<T> = std::result::Result<T, StartFileError>;

/// How a source of another aspect ratio becomes the job's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Scale to cover the size, cut the overhang evenly (nothing is added).
    #[default]
    Crop,
    /// Scale to fit inside, fill the rest with grey (nothing is cut).
    Pad,
}

impl std::str::FromStr for Fit {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Fit, String> {
        match s {
            "crop" => Ok(Fit::Crop),
            "pad" => Ok(Fit::Pad),
            other => Err(format!("fit {other:?} is not crop or pad")),
        }
    }
}

impl Fit {
    pub fn name(self) -> &'static str {
        match self {
            Fit::Crop => "crop",
            Fit::Pad => "pad",
        }
    }
}

/// A decoded file and its digest.
pub struct Loaded {
    pub image: RgbImage,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Whether every pixel had equal R, G and B (and there was no colour channel).
    pub grey: bool,
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a PNG, JPEG or WebP file as RGB (alpha dropped).
pub fn read_image(path: &Path) -> Result<Loaded> {
    let bad = |message: String| StartFileError::Read {
        path: path.display().to_string(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("cannot read it ({e})")))?;
    let image = match ImageFormat::sniff(&bytes) {
        Some(ImageFormat::Png) => {
            image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
                .map_err(|e| bad(format!("not a readable PNG ({e})")))?
                .to_rgb8()
        }
        Some(ImageFormat::Jpeg) => decode_jpeg(&bytes).map_err(bad)?,
        Some(ImageFormat::WebP) => decode_webp(&bytes).map_err(bad)?,
        None => return Err(bad("not a PNG, JPEG or WebP image".into())),
    };
    if image.width() == 0 || image.height() == 0 {
        return Err(bad("the image is empty".into()));
    }
    let grey = image.pixels().all(|p| p[0] == p[1] && p[1] == p[2]);
    Ok(Loaded {
        image,
        sha256: sha256_hex(&bytes),
        grey,
    })
}

fn decode_jpeg(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let pixels = decoder
        .decode()
        .map_err(|e| format!("not a readable JPEG ({e})"))?;
    let info = decoder.info().ok_or("a JPEG without a frame")?;
    let (w, h) = (u32::from(info.width), u32::from(info.height));
    let rgb: Vec<u8> = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => pixels,
        jpeg_decoder::PixelFormat::L8 => pixels.iter().flat_map(|&v| [v, v, v]).collect(),
        other => return Err(format!("JPEG pixel format {other:?} is not supported")),
    };
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| "a truncated JPEG".to_string())
}

fn decode_webp(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let mut decoder = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable WebP ({e})"))?;
    let (w, h) = decoder.dimensions();
    let mut buf = vec![0u8; decoder.output_buffer_size().ok_or("a WebP too large")?];
    decoder
        .read_image(&mut buf)
        .map_err(|e| format!("not a readable WebP ({e})"))?;
    let rgb = if decoder.has_alpha() {
        buf.chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    } else {
        buf
    };
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| "a truncated WebP".to_string())
}

/// Scales `image` down (aspect kept) so neither side exceeds [`MAX_SOURCE_SIDE`]; the note
/// says so when it did.
pub fn limit_source(image: RgbImage) -> (RgbImage, Option<String>) {
    let (w, h) = image.dimensions();
    if w <= MAX_SOURCE_SIDE && h <= MAX_SOURCE_SIDE {
        return (image, None);
    }
    let scale = f64::from(MAX_SOURCE_SIDE) / f64::from(w.max(h));
    let (nw, nh) = (
        ((f64::from(w) * scale).round() as u32).max(1),
        ((f64::from(h) * scale).round() as u32).max(1),
    );
    let note = format!(
        "the source is {w}x{h}, larger than {MAX_SOURCE_SIDE}x{MAX_SOURCE_SIDE}: scaled to {nw}x{nh} first"
    );
    (
        imageops::resize(&image, nw, nh, FilterType::Lanczos3),
        Some(note),
    )
}

/// Where a `(sw, sh)` source lands on a `(w, h)` target: scaled size and offset (negative =
/// cropped).
fn placement(sw: u32, sh: u32, w: u32, h: u32, fit: Fit) -> (u32, u32, i64, i64) {
    let (sx, sy) = (f64::from(w) / f64::from(sw), f64::from(h) / f64::from(sh));
    let scale = match fit {
        Fit::Crop => sx.max(sy),
        Fit::Pad => sx.min(sy),
    };
    let nw = ((f64::from(sw) * scale).round() as u32).max(1);
    let nh = ((f64::from(sh) * scale).round() as u32).max(1);
    let (nw, nh) = match fit {
        Fit::Crop => (nw.max(w), nh.max(h)),
        Fit::Pad => (nw.min(w), nh.min(h)),
    };
    let ox = (i64::from(w) - i64::from(nw)) / 2;
    let oy = (i64::from(h) - i64::from(nh)) / 2;
    (nw, nh, ox, oy)
}

/// `image` at exactly `w × h`, aspect kept: Lanczos scaling, then a centred crop or grey
/// padding.
pub fn fit_rgb(image: &RgbImage, w: u32, h: u32, fit: Fit) -> RgbImage {
    let (nw, nh, ox, oy) = placement(image.width(), image.height(), w, h, fit);
    let scaled = if (nw, nh) == image.dimensions() {
        image.clone()
    } else {
        imageops::resize(image, nw, nh, FilterType::Lanczos3)
    };
    let mut out = RgbImage::from_pixel(w, h, image::Rgb([PAD_GREY; 3]));
    imageops::replace(&mut out, &scaled, ox, oy);
    out
}

/// A mask at exactly `w × h` with the source's geometry: nearest scaling, the same crop, and
/// padding marked for repainting (white).
pub fn fit_mask(mask: &GrayImage, w: u32, h: u32, fit: Fit) -> GrayImage {
    let (nw, nh, ox, oy) = placement(mask.width(), mask.height(), w, h, fit);
    let scaled = imageops::resize(mask, nw, nh, FilterType::Nearest);
    let mut out = GrayImage::from_pixel(w, h, image::Luma([255]));
    imageops::replace(&mut out, &scaled, ox, oy);
    out
}

/// Luma of an RGB image (ITU-R 601, as PIL's `convert("L")`).
pub fn to_luma(image: &RgbImage) -> GrayImage {
    GrayImage::from_fn(image.width(), image.height(), |x, y| {
        let p = image.get_pixel(x, y);
        let l =
            (299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2]) + 500) / 1000;
        image::Luma([l as u8])
    })
}

/// Extra canvas on each side, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Sides {
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
    pub left: u32,
}

impl Sides {
    /// `top,right,bottom,left` in pixels.
    pub fn parse(text: &str) -> std::result::Result<Sides, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        let values: Vec<u32> = parts
            .iter()
            .map(|p| p.parse::<u32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                format!(
                    "--outpaint {text:?}: expected top,right,bottom,left in pixels or WIDTHxHEIGHT"
                )
            })?;
        match values[..] {
            [top, right, bottom, left] => Ok(Sides {
                top,
                right,
                bottom,
                left,
            }),
            _ => Err(format!(
                "--outpaint {text:?}: expected four numbers top,right,bottom,left"
            )),
        }
    }

    /// The sides that centre a `(w, h)` picture on a `(cw, ch)` canvas.
    pub fn centring(w: u32, h: u32, cw: u32, ch: u32) -> std::result::Result<Sides, String> {
        if cw < w || ch < h {
            return Err(format!(
                "the outpaint canvas {cw}x{ch} is smaller than the image {w}x{h}"
            ));
        }
        let (dx, dy) = (cw - w, ch - h);
        // Multiples of 16 on each side where possible, so token rows stay whole.
        let left = (dx / 2) / 16 * 16;
        let top = (dy / 2) / 16 * 16;
        Ok(Sides {
            top,
            right: dx - left,
            bottom: dy - top,
            left,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Sides::default()
    }
}

/// The outpaint canvas: `image` placed at (left, top) on a grey canvas grown by `sides`,
/// and its mask (white border = repaint, `inner` or black inside).
pub fn outpaint(
    image: &RgbImage,
    inner: Option<&GrayImage>,
    sides: Sides,
) -> (RgbImage, GrayImage) {
    let (w, h) = image.dimensions();
    let (cw, ch) = (w + sides.left + sides.right, h + sides.top + sides.bottom);
    let mut canvas = RgbImage::from_pixel(cw, ch, image::Rgb([PAD_GREY; 3]));
    imageops::replace(
        &mut canvas,
        image,
        i64::from(sides.left),
        i64::from(sides.top),
    );
    let mut mask = GrayImage::from_pixel(cw, ch, image::Luma([255]));
    let inside = match inner {
        Some(m) => m.clone(),
        None => GrayImage::new(w, h),
    };
    imageops::replace(
        &mut mask,
        &inside,
        i64::from(sides.left),
        i64::from(sides.top),
    );
    (canvas, mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_vectors() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn crop_covers_and_pad_fits() {
        // 200×100 onto 64×64: crop scales to 128×64 and cuts 32 columns each side;
        // pad scales to 64×32 and adds 16 grey rows above and below.
        assert_eq!(placement(200, 100, 64, 64, Fit::Crop), (128, 64, -32, 0));
        assert_eq!(placement(200, 100, 64, 64, Fit::Pad), (64, 32, 0, 16));
        let red = RgbImage::from_pixel(200, 100, image::Rgb([200, 10, 10]));
        let padded = fit_rgb(&red, 64, 64, Fit::Pad);
        assert_eq!(padded.dimensions(), (64, 64));
        assert_eq!(padded.get_pixel(32, 5).0, [PAD_GREY; 3]);
        assert_eq!(padded.get_pixel(32, 32).0, [200, 10, 10]);
        let cropped = fit_rgb(&red, 64, 64, Fit::Crop);
        assert!(cropped.pixels().all(|p| p.0 == [200, 10, 10]));
        let mask = fit_mask(&GrayImage::new(200, 100), 64, 64, Fit::Pad);
        assert_eq!(mask.get_pixel(0, 0).0, [255], "padding is repainted");
        assert_eq!(mask.get_pixel(32, 32).0, [0]);
    }

    #[test]
    fn outpaint_geometry() {
        let img = RgbImage::from_pixel(64, 48, image::Rgb([1, 2, 3]));
        let sides = Sides::parse("16,32,0,16").unwrap();
        let (canvas, mask) = outpaint(&img, None, sides);
        assert_eq!(canvas.dimensions(), (64 + 48, 48 + 16));
        assert_eq!(mask.dimensions(), canvas.dimensions());
        for (x, y, m) in mask.enumerate_pixels() {
            let inside = (16..80).contains(&x) && (16..64).contains(&y);
            assert_eq!(m.0[0], if inside { 0 } else { 255 }, "({x}, {y})");
            let want = if inside { [1, 2, 3] } else { [PAD_GREY; 3] };
            assert_eq!(canvas.get_pixel(x, y).0, want, "({x}, {y})");
        }
        assert_eq!(
            Sides::centring(64, 48, 128, 80).unwrap(),
            Sides {
                top: 16,
                right: 32,
                bottom: 16,
                left: 32
            }
        );
        assert!(Sides::centring(64, 48, 32, 80).is_err());
        assert!(Sides::parse("1,2,3").is_err());
        assert!(Sides::parse("a,b,c,d").is_err());
    }

    #[test]
    fn big_sources_are_limited_and_luma_is_601() {
        let (img, note) = limit_source(RgbImage::new(4096, 1024));
        assert_eq!(img.dimensions(), (2048, 512));
        assert!(note.unwrap().contains("4096x1024"));
        let (_, none) = limit_source(RgbImage::new(2048, 2048));
        assert!(none.is_none());
        let rgb = RgbImage::from_pixel(1, 1, image::Rgb([255, 0, 0]));
        assert_eq!(to_luma(&rgb).get_pixel(0, 0).0, [76]);
    }
}
