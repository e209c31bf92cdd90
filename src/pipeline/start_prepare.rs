//! Turning resolved start-image choices (files read, fit, outpaint border, strength) into what
//! the pipeline runs from and the `init_image` record block. `generate` and the TUI's engine
//! share it, so a variation made in either records the same thing.

use std::path::{Path, PathBuf};

use image::imageops::{self, FilterType};
use serde_json::{json, Value};

use super::start_files::{
    fit_mask, fit_rgb, limit_source, outpaint, read_image, to_luma, Fit, Loaded, Sides,
    StartFileError,
};
use super::start_image::{check_strength, StartImage, StartSource};
use crate::sampler::ImageSize;

/// Everything decided about a start, files already read.
pub struct StartChoice {
    pub source: (PathBuf, Loaded),
    pub mask: Option<(PathBuf, Loaded)>,
    pub fit: Fit,
    /// The outpaint border (empty borders are ignored).
    pub sides: Option<Sides>,
    /// The size the source is fitted to (the canvas less any outpaint border).
    pub inner: ImageSize,
    pub strength: f32,
}

/// A checked start: what the pipeline gets, the canvas size the job runs at, the record
/// block, and notes about adjustments made.
pub struct Prepared {
    pub start: StartImage,
    pub canvas: ImageSize,
    pub record: Value,
    pub notes: Vec<String>,
}

/// Start-image settings as a queued job keeps them: paths, not pixels, so the files are read
/// (and their digests taken) when the job runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StartPaths {
    pub source: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<PathBuf>,
    pub strength: f32,
    #[serde(default)]
    pub fit: Fit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outpaint: Option<Sides>,
}

impl StartPaths {
    /// Reads the files and prepares the start for a job of `size` (the canvas grows by the
    /// outpaint border).
    pub fn prepare(&self, size: ImageSize) -> Result<Prepared, StartFileError> {
        check_strength(self.strength)
            .map_err(|e| StartFileError::Geometry(format!("strength: {e}")))?;
        let source = (self.source.clone(), read_image(&self.source)?);
        let mask = match &self.mask {
            Some(p) => Some((p.clone(), read_image(p)?)),
            None => None,
        };
        prepare(StartChoice {
            source,
            mask,
            fit: self.fit,
            sides: self.outpaint,
            inner: size,
            strength: self.strength,
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Fits the source (and mask) to the job, adds any outpaint border, and builds the record.
pub fn prepare(choice: StartChoice) -> Result<Prepared, StartFileError> {
    let StartChoice {
        source: (source_path, source),
        mask,
        fit,
        sides,
        inner,
        strength,
    } = choice;
    let sides = sides.filter(|s| !s.is_empty());
    if inner.width == 0 || inner.height == 0 {
        return Err(StartFileError::Geometry(
            "the outpaint border leaves no room for the source".into(),
        ));
    }
    let mut notes = Vec::new();
    let (source_w, source_h) = source.image.dimensions();
    let (limited, note) = limit_source(source.image.clone());
    notes.extend(note);
    let fitted = fit_rgb(&limited, inner.width, inner.height, fit);
    let mask_image = match &mask {
        Some((path, m)) => {
            if !m.grey {
                notes.push(format!(
                    "the mask {} has colours: converted to grey (white = repaint)",
                    path.display()
                ));
            }
            let mut luma = to_luma(&m.image);
            if luma.dimensions() != (source_w, source_h) {
                notes.push(format!(
                    "the mask is {}x{}, the source {source_w}x{source_h}: mask scaled to match",
                    luma.width(),
                    luma.height()
                ));
                luma = imageops::resize(&luma, source_w, source_h, FilterType::Nearest);
            }
            Some(fit_mask(&luma, inner.width, inner.height, fit))
        }
        None => None,
    };
    let (canvas_image, mask_image) = match sides {
        Some(sides) => {
            let (c, m) = outpaint(&fitted, mask_image.as_ref(), sides);
            (c, Some(m))
        }
        None => (fitted, mask_image),
    };
    let canvas = ImageSize::new(canvas_image.width(), canvas_image.height());
    let record = json!({
        "file": file_name(&source_path),
        "sha256": source.sha256,
        // The shortest decimal that reads back as the same f32 (0.85, not 0.8500000238).
        "strength": format!("{strength}").parse::<f64>().unwrap_or(f64::from(strength)),
        "fit": fit.name(),
        "mask_file": mask.as_ref().map(|(p, _)| file_name(p)),
        "mask_sha256": mask.as_ref().map(|(_, m)| m.sha256.clone()),
        "outpaint": sides,
    });
    Ok(Prepared {
        start: StartImage {
            source: StartSource::Pixels(canvas_image.into_raw()),
            strength,
            mask: mask_image.map(|m| m.into_raw()),
        },
        canvas,
        record,
        notes,
    })
}
