//! `generate --init-image FILE [--strength S] [--mask FILE] [--outpaint …] [--fit crop|pad]`:
//! reading and checking the start image and mask before any model is loaded, and the
//! `init_image` block of the parameters record (file names and SHA-256 digests, never pixels)
//! that `--from-image` reads back to repeat the run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use ideogram4::output::read_record;
use ideogram4::pipeline::start_files::{read_image, Fit, Sides};
use ideogram4::pipeline::start_image::{check_strength, DEFAULT_MASKED_STRENGTH, DEFAULT_STRENGTH};
use ideogram4::pipeline::start_prepare::{Prepared, StartPaths};
use ideogram4::sampler::ImageSize;
use serde_json::Value;

/// The start-image flags of `generate`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StartArgs {
    /// Start from this image (PNG, JPEG or WebP) instead of noise: a variation of it, or with
    /// --mask / --outpaint a repaint of part of it. It is scaled to the job's size.
    #[arg(long, value_name = "FILE")]
    pub init_image: Option<PathBuf>,
    /// How much of the schedule runs, in (0, 1]: 1 ignores the source, small values keep it
    /// [default 0.6; 0.85 with --mask or --outpaint].
    #[arg(long, value_name = "S", allow_hyphen_values = true)]
    pub strength: Option<f32>,
    /// Repaint only where this image is white (grey levels are cut at half; one decision per
    /// 16×16 block). Colour masks are converted to grey, masks of another size are scaled.
    #[arg(long, value_name = "FILE")]
    pub mask: Option<PathBuf>,
    /// Grow the canvas around the source and paint the new border: pixels per side as
    /// TOP,RIGHT,BOTTOM,LEFT added to --width/--height, or the whole canvas as WIDTHxHEIGHT
    /// (source centred).
    #[arg(long, value_name = "T,R,B,L|WxH")]
    pub outpaint: Option<String>,
    /// How a source of another aspect ratio becomes the job's size: crop (cover, cut the
    /// overhang) or pad (fit inside, grey bars that are repainted) [default crop].
    #[arg(long, value_name = "crop|pad")]
    pub fit: Option<Fit>,
}

/// The recorded `init_image` block of an earlier output, and the folder its files are looked
/// for in first.
struct Recorded {
    block: Value,
    folder: PathBuf,
}

fn recorded(from_image: Option<&Path>) -> anyhow::Result<Option<Recorded>> {
    let Some(path) = from_image else {
        return Ok(None);
    };
    let record = read_record(path)
        .with_context(|| format!("reading the parameters of {}", path.display()))?;
    Ok(record
        .extra
        .get("init_image")
        .cloned()
        .map(|block| Recorded {
            block,
            folder: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        }))
}

/// The file a record names (by file name) with the digest it records: looked for next to the
/// image that holds the record, then in the current folder.
fn recorded_file(rec: &Recorded, name_key: &str, sha_key: &str) -> anyhow::Result<PathBuf> {
    let name = rec.block[name_key]
        .as_str()
        .context(format!("the record's init_image has no {name_key}"))?;
    let want = rec.block[sha_key].as_str().unwrap_or_default();
    let candidates = [rec.folder.join(name), PathBuf::from(name)];
    let Some(path) = candidates.iter().find(|p| p.is_file()) else {
        bail!(
            "the run started from {name} (sha256 {want}), which is neither next to the image \
             nor in the current folder; put it there or pass --init-image"
        );
    };
    let loaded = read_image(path)?;
    if loaded.sha256 != want {
        bail!(
            "{} is not the file the run started from: its sha256 is {}, the record says {want}",
            path.display(),
            loaded.sha256
        );
    }
    Ok(path.clone())
}

/// A checked start: prepared once here (so mistakes show before any model loads), and the
/// paths and size the engine prepares it from again for each job.
pub struct Start {
    pub prepared: Prepared,
    pub paths: StartPaths,
    /// The size the source is fitted to (the canvas less any outpaint border).
    pub inner: ImageSize,
}

/// Reads and checks everything; `size` is the job's size (the canvas when repeating a
/// recorded outpaint). `Ok(None)` when no start image is involved.
pub fn prepare(
    args: &StartArgs,
    from_image: Option<&Path>,
    size: ImageSize,
) -> anyhow::Result<Option<Start>> {
    let rec = match &args.init_image {
        Some(_) => None,
        None => recorded(from_image)?,
    };
    if args.init_image.is_none() && rec.is_none() {
        for (given, flag) in [
            (args.strength.is_some(), "--strength"),
            (args.mask.is_some(), "--mask"),
            (args.outpaint.is_some(), "--outpaint"),
            (args.fit.is_some(), "--fit"),
        ] {
            if given {
                bail!("{flag} needs --init-image FILE (the image to start from)");
            }
        }
        return Ok(None);
    }
    // Files named by a record are checked against its digests here; all are read when the
    // start is prepared below.
    let source_path = match (&args.init_image, &rec) {
        (Some(p), _) => p.clone(),
        (None, Some(r)) => recorded_file(r, "file", "sha256")?,
        (None, None) => unreachable!("checked above"),
    };
    let mask = match (&args.mask, &rec) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(r)) if r.block["mask_file"].is_string() => {
            Some(recorded_file(r, "mask_file", "mask_sha256")?)
        }
        _ => None,
    };
    let fit = match (args.fit, &rec) {
        (Some(f), _) => f,
        (None, Some(r)) => serde_json::from_value(r.block["fit"].clone()).unwrap_or_default(),
        (None, None) => Fit::default(),
    };
    let (sides, inner) = match (&args.outpaint, &rec) {
        (Some(text), _) => {
            let sides = match text.split_once(['x', 'X']) {
                Some((w, h)) => {
                    let (cw, ch) = (w.trim().parse::<u32>(), h.trim().parse::<u32>());
                    let (Ok(cw), Ok(ch)) = (cw, ch) else {
                        bail!("--outpaint {text:?}: expected WIDTHxHEIGHT or T,R,B,L");
                    };
                    Sides::centring(size.width, size.height, cw, ch).map_err(anyhow::Error::msg)?
                }
                None => Sides::parse(text).map_err(anyhow::Error::msg)?,
            };
            (Some(sides), size)
        }
        (None, Some(r)) if r.block["outpaint"].is_object() => {
            let sides: Sides = serde_json::from_value(r.block["outpaint"].clone())
                .context("the record's init_image.outpaint")?;
            let inner = ImageSize::new(
                size.width.saturating_sub(sides.left + sides.right),
                size.height.saturating_sub(sides.top + sides.bottom),
            );
            (Some(sides), inner)
        }
        _ => (None, size),
    };
    // An empty border is no outpaint (the pipeline ignores it too).
    let masked = mask.is_some() || sides.is_some_and(|s| !s.is_empty());
    let strength = match (args.strength, &rec) {
        (Some(s), _) => s,
        (None, Some(r)) => r.block["strength"]
            .as_f64()
            .map_or(DEFAULT_STRENGTH, |s| s as f32),
        (None, None) if masked => DEFAULT_MASKED_STRENGTH,
        (None, None) => DEFAULT_STRENGTH,
    };
    check_strength(strength).map_err(|e| anyhow::anyhow!("--strength: {e}"))?;
    let paths = StartPaths {
        source: source_path,
        mask,
        strength,
        fit,
        outpaint: sides,
    };
    // Read again from the paths, as the engine will for each job (small files, read once
    // more).
    let prepared = paths.prepare(inner)?;
    Ok(Some(Start {
        prepared,
        paths,
        inner,
    }))
}
