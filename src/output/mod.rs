//! Writing finished images with their `parameters` record, reading records back, output file
//! names, and the history index (no MLX).
//!
//! * [`save_image`]: RGB8 pixels → PNG, JPEG or WebP, written atomically (never a partial
//!   file, never an existing file replaced unless asked), with the parameters record
//!   embedded: PNG iTXt `parameters`; JPEG XMP (APP1); WebP XMP chunk (lossless). When a
//!   record cannot be embedded (JPEG's ~64 KiB segment limit), it goes to a sidecar
//!   `<image file name>.json` next to the image.
//! * [`read_parameters`] / [`read_record`]: the record back from any of those (or its
//!   sidecar), for `generate --from-image` and the history pane.
//! * [`expand_pattern`] / [`OutputName`]: names from `{date}`, `{time}`, `{seed}`,
//!   `{preset}`, `{n}` patterns, with a counter that avoids existing files.
//! * [`resolve_format`]: format from the extension, with a typed error for a conflicting
//!   `--format`.
//! * [`History`]: append-only `history.jsonl` of finished outputs.
//!
//! ```no_run
//! use std::path::Path;
//! use ideogram4::output::{
//!     expand_pattern, save_image, GenerationRecord, PatternFields, RgbImage, SaveOptions,
//!     Timestamp, History, HistoryEntry,
//! };
//! use ideogram4::sampler::{ImageSize, Preset, SamplerParams};
//!
//! let pixels = vec![0u8; 64 * 48 * 3];
//! let image = RgbImage::new(64, 48, &pixels)?;
//! let sampler = SamplerParams::Preset(Preset::Turbo12);
//! let record = GenerationRecord::new("{…}", sampler.clone(), 42, ImageSize::new(64, 48), "demo", "bf16");
//! let now = Timestamp::now_local();
//! let fields = PatternFields { seed: 42, preset: sampler.label(), time: now };
//! let name = expand_pattern("{date}/ideogram-{time}-{seed}", Path::new("outputs"), &fields)?;
//! let saved = save_image(&name, &image, &record.to_value(), &SaveOptions::default())?;
//! History::new(Path::new("data")).append(&HistoryEntry::from_record(&saved.path, &record, now))?;
//! # Ok::<(), ideogram4::output::OutputError>(())
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

mod clock;
mod history;
mod jpeg_meta;
mod pattern;
mod png_meta;
mod preflight;
mod record;
mod webp_meta;
mod xmp;

pub use crate::files::{write_atomic, Replace, TEMP_PREFIX};
pub use clock::{CivilTime, Timestamp};
pub use history::{caption_summary, History, HistoryEntry, HistoryLoad, SUMMARY_CHARS};
pub use pattern::{expand_pattern, OutputName, PatternFields, PLACEHOLDERS};
pub use preflight::{check_dir, FolderError};
pub use record::{GenerationRecord, RECORD_VERSION};

/// Keyword of the PNG text chunk (and name of the record everywhere).
pub const PARAMETERS_KEYWORD: &str = "parameters";

/// Errors from writing or reading outputs.
#[derive(Debug, Error)]
pub enum OutputError {
    /// The file name's extension and an explicit format disagree.
    #[error(
        "the output name ends in .{extension} but the format was set to {explicit}; drop \
         --format or use a .{} name",
        explicit.extension()
    )]
    FormatConflict {
        /// Extension as written.
        extension: String,
        /// The explicitly requested format.
        explicit: ImageFormat,
    },
    /// An extension that is not one of ours.
    #[error("cannot write .{0} files; use .png, .jpg/.jpeg or .webp")]
    UnknownExtension(String),
    /// A format name that is not one of ours.
    #[error("unknown image format {0:?}; use png, jpeg or webp")]
    UnknownFormat(String),
    /// Pixel buffer and dimensions disagree.
    #[error("image buffer has {len} bytes but {width}x{height} RGB needs {expected}")]
    BadImage {
        /// Width given.
        width: u32,
        /// Height given.
        height: u32,
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        expected: usize,
    },
    /// A bad output name pattern.
    #[error("{0}")]
    Pattern(String),
    /// The encoder failed.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// Unreadable metadata or container structure.
    #[error("{0}")]
    Metadata(String),
    /// The record is not valid JSON (or not the expected structure).
    #[error("the parameters record in {path} is not valid: {message}")]
    BadRecord {
        /// The file read.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// Neither embedded metadata nor a sidecar.
    #[error("{0} carries no parameters record (no embedded metadata and no .json sidecar)")]
    NoParameters(PathBuf),
    /// The output folder cannot be used.
    #[error(transparent)]
    Folder(FolderError),
    /// No free name after many tries.
    #[error("no free output name near {0} after 10000 tries")]
    NoFreeName(PathBuf),
    /// The destination exists and replacing was not allowed.
    #[error("{0} already exists")]
    Exists(PathBuf),
    /// An I/O error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

/// An output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// Lossless PNG; the default.
    Png,
    /// Lossy JPEG.
    Jpeg,
    /// Lossless WebP.
    #[serde(rename = "webp")]
    WebP,
}

impl ImageFormat {
    /// Canonical extension without the dot (`png`, `jpg`, `webp`).
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpg",
            ImageFormat::WebP => "webp",
        }
    }

    /// The format an extension names (case-insensitive; `jpg` and `jpeg` both work).
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension.to_ascii_lowercase().as_str() {
            "png" => Some(ImageFormat::Png),
            "jpg" | "jpeg" => Some(ImageFormat::Jpeg),
            "webp" => Some(ImageFormat::WebP),
            _ => None,
        }
    }

    /// The format of a file judged by its first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::WebP)
        } else {
            None
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageFormat::Png => "png",
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::WebP => "webp",
        })
    }
}

impl FromStr for ImageFormat {
    type Err = OutputError;

    /// `png`, `jpeg`/`jpg` or `webp`, case-insensitive (the `--format` values).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageFormat::from_extension(s.trim()).ok_or_else(|| OutputError::UnknownFormat(s.into()))
    }
}

/// The format to write: the extension decides; an explicit format must agree with it; with
/// no extension, the explicit format or PNG.
pub fn resolve_format(
    extension: Option<&str>,
    explicit: Option<ImageFormat>,
) -> Result<ImageFormat, OutputError> {
    match extension {
        None => Ok(explicit.unwrap_or(ImageFormat::Png)),
        Some(ext) => {
            let from_ext = ImageFormat::from_extension(ext)
                .ok_or_else(|| OutputError::UnknownExtension(ext.to_string()))?;
            match explicit {
                Some(explicit) if explicit != from_ext => Err(OutputError::FormatConflict {
                    extension: ext.to_string(),
                    explicit,
                }),
                _ => Ok(from_ext),
            }
        }
    }
}

/// Borrowed 8-bit RGB pixels, row-major, `width·height·3` bytes.
#[derive(Debug, Clone, Copy)]
pub struct RgbImage<'a> {
    width: u32,
    height: u32,
    pixels: &'a [u8],
}

impl<'a> RgbImage<'a> {
    /// Wrap a pixel buffer; fails if its length is not `width·height·3` or a side is 0.
    pub fn new(width: u32, height: u32, pixels: &'a [u8]) -> Result<Self, OutputError> {
        let expected = width as usize * height as usize * 3;
        if pixels.len() != expected || expected == 0 {
            return Err(OutputError::BadImage {
                width,
                height,
                len: pixels.len(),
                expected,
            });
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixel bytes.
    pub fn pixels(&self) -> &'a [u8] {
        self.pixels
    }
}

/// What to do when the chosen name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collision {
    /// Take the next candidate name (`-1`, `-2`, … or the next `{n}`). The default.
    #[default]
    NewName,
    /// Replace the existing file (atomically).
    Overwrite,
    /// Fail with [`OutputError::Exists`].
    Fail,
}

/// Options for [`save_image`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveOptions {
    /// Explicit format (`--format`); must agree with the name's extension if it has one.
    pub format: Option<ImageFormat>,
    /// JPEG quality 1–100.
    pub jpeg_quality: u8,
    /// What to do when the name exists.
    pub collision: Collision,
}

impl Default for SaveOptions {
    fn default() -> Self {
        Self {
            format: None,
            jpeg_quality: 92,
            collision: Collision::NewName,
        }
    }
}

/// Where the record went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataLocation {
    /// Inside the image file.
    Embedded,
    /// In this sidecar file next to the image.
    Sidecar(PathBuf),
}

/// Result of [`save_image`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedImage {
    /// The path actually written.
    pub path: PathBuf,
    /// Its format.
    pub format: ImageFormat,
    /// Where the parameters record is.
    pub metadata: MetadataLocation,
}

/// The sidecar path for an image: its full file name plus `.json` (`a.jpg` → `a.jpg.json`).
pub fn sidecar_path(image_path: &Path) -> PathBuf {
    let mut name = image_path.as_os_str().to_os_string();
    name.push(".json");
    PathBuf::from(name)
}

const MAX_CANDIDATES: u32 = 10_000;

/// Encode `image` with `parameters` embedded and write it under the first free candidate of
/// `name` (see [`Collision`]). Parent folders are created. The file appears complete or not at
/// all; a sidecar, when needed, is written right after the image.
pub fn save_image(
    name: &OutputName,
    image: &RgbImage<'_>,
    parameters: &serde_json::Value,
    options: &SaveOptions,
) -> Result<SavedImage, OutputError> {
    let format = resolve_format(name.extension(), options.format)?;
    let mut name = name.clone();
    name.set_extension_if_missing(format.extension());
    let json = serde_json::to_string(parameters).map_err(|e| OutputError::BadRecord {
        path: name.candidate(0),
        message: e.to_string(),
    })?;

    let (bytes, embedded) = match format {
        ImageFormat::Png => (png_meta::encode(image, &json)?, true),
        ImageFormat::Jpeg => jpeg_meta::encode(image, &json, options.jpeg_quality)?,
        ImageFormat::WebP => (webp_meta::encode(image, &json)?, true),
    };

    let path = publish(&name, &bytes, options.collision)?;
    let metadata = if embedded {
        MetadataLocation::Embedded
    } else {
        let sidecar = sidecar_path(&path);
        // The image name is fresh (or being replaced on purpose), so its sidecar may be too.
        write_atomic(&sidecar, json.as_bytes(), Replace::Allow).map_err(|source| {
            OutputError::Io {
                path: sidecar.clone(),
                source,
            }
        })?;
        MetadataLocation::Sidecar(sidecar)
    };
    Ok(SavedImage {
        path,
        format,
        metadata,
    })
}

fn publish(name: &OutputName, bytes: &[u8], collision: Collision) -> Result<PathBuf, OutputError> {
    // Otherwise a file on the path reads as "name taken" below, for every candidate.
    preflight::check_no_file_on_path(name.dir())?;
    let io_err = |path: &Path, source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    };
    match collision {
        Collision::Overwrite => {
            let path = name.candidate(0);
            write_atomic(&path, bytes, Replace::Allow).map_err(|e| io_err(&path, e))?;
            Ok(path)
        }
        Collision::Fail => {
            let path = name.candidate(0);
            match write_atomic(&path, bytes, Replace::Forbid) {
                Ok(()) => Ok(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    Err(OutputError::Exists(path))
                }
                Err(e) => Err(io_err(&path, e)),
            }
        }
        Collision::NewName => {
            for k in 0..MAX_CANDIDATES {
                let path = name.candidate(k);
                // Cheap pre-check, so a long run of taken names is not one write per name; the
                // write itself still refuses to replace anything.
                if path.exists() {
                    continue;
                }
                match write_atomic(&path, bytes, Replace::Forbid) {
                    Ok(()) => return Ok(path),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(io_err(&path, e)),
                }
            }
            Err(OutputError::NoFreeName(name.candidate(0)))
        }
    }
}

/// The `parameters` record of an output written by [`save_image`] (PNG iTXt/zTXt/tEXt,
/// JPEG or WebP XMP), or else of its `.json` sidecar.
pub fn read_parameters(path: &Path) -> Result<serde_json::Value, OutputError> {
    let bytes = std::fs::read(path).map_err(|source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let embedded = match ImageFormat::sniff(&bytes) {
        Some(ImageFormat::Png) => png_meta::read_parameters(&bytes)?,
        Some(ImageFormat::Jpeg) => jpeg_meta::read_parameters(&bytes)?,
        Some(ImageFormat::WebP) => webp_meta::read_parameters(&bytes)?,
        None => None,
    };
    let text = match embedded {
        Some(text) => text,
        None => {
            let sidecar = sidecar_path(path);
            match std::fs::read_to_string(&sidecar) {
                Ok(text) => text,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(OutputError::NoParameters(path.to_path_buf()))
                }
                Err(source) => {
                    return Err(OutputError::Io {
                        path: sidecar,
                        source,
                    })
                }
            }
        }
    };
    serde_json::from_str(&text).map_err(|e| OutputError::BadRecord {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// [`read_parameters`] parsed as a [`GenerationRecord`] (validating its sampler settings).
pub fn read_record(path: &Path) -> Result<GenerationRecord, OutputError> {
    let value = read_parameters(path)?;
    serde_json::from_value(value).map_err(|e| OutputError::BadRecord {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
