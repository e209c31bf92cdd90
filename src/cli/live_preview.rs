//! `generate --preview-every N DIR`: the live preview the terminal app shows, written as PNG
//! files for headless runs (`DIR/<seed>_step<NNN>.png` every N sampling steps).

use std::path::PathBuf;

use anyhow::{anyhow, Context};

/// Parses `N DIR` and creates DIR.
pub fn configure(values: &[String]) -> anyhow::Result<(usize, PathBuf)> {
    let [n, dir] = values else {
        return Err(anyhow!("--preview-every takes N and DIR"));
    };
    let every: usize = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
        anyhow!("--preview-every: N must be a whole number of steps ≥ 1, got {n:?}")
    })?;
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok((every, dir))
}

pub fn write_png(
    path: &std::path::Path,
    width: u32,
    height: u32,
    rgb: &[u8],
) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}
