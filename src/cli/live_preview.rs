//! `generate --preview-every N DIR`: the live preview the terminal app shows, written as PNG
//! files for headless runs (`DIR/<seed>_step<NNN>.png` every N sampling steps).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, Context};

use ideogram4::pipeline::preview::LatentRgb;
use ideogram4::pipeline::{Event, Finished, JobSpec, Pipeline, PipelineError, Trace};
use ideogram4::sampler::PIXELS_PER_TOKEN;

/// What `--preview-every` asked for, set once before the jobs run.
struct Settings {
    every: usize,
    dir: PathBuf,
    map: Option<LatentRgb>,
}

static SETTINGS: Mutex<Option<Settings>> = Mutex::new(None);

/// Parses `N DIR` and creates DIR.
pub fn configure(values: &[String]) -> anyhow::Result<()> {
    let [n, dir] = values else {
        return Err(anyhow!("--preview-every takes N and DIR"));
    };
    let every: usize = n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
        anyhow!("--preview-every: N must be a whole number of steps ≥ 1, got {n:?}")
    })?;
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    if let Ok(mut s) = SETTINGS.lock() {
        *s = Some(Settings {
            every,
            dir,
            map: None,
        });
    }
    Ok(())
}

/// Runs the job, writing previews when configured (otherwise exactly `pipeline.run`).
pub fn run(
    pipeline: &mut Pipeline,
    job: &JobSpec,
    events: &mut dyn FnMut(&Event),
    cancel: &AtomicBool,
) -> Result<Finished, PipelineError> {
    let mut guard = SETTINGS.lock().unwrap_or_else(|p| p.into_inner());
    let Some(settings) = guard.as_mut() else {
        drop(guard);
        return pipeline.run(job, events, cancel);
    };
    if settings.map.is_none() {
        settings.map = Some(pipeline.fit_latent_rgb(8)?);
    }
    let Settings { every, dir, map } = &*settings;
    let map = map
        .as_ref()
        .ok_or_else(|| PipelineError::Preview("no map".into()))?;
    let grid_h = (job.size.height / PIXELS_PER_TOKEN) as usize;
    let grid_w = (job.size.width / PIXELS_PER_TOKEN) as usize;
    let mut failure: Option<String> = None;
    let mut trace = |t: Trace<'_>| {
        let Trace::Step(report) = t else { return };
        let done = report.position + 1;
        if done % every != 0 || failure.is_some() {
            return;
        }
        let started = Instant::now();
        let written = map
            .step_preview(&report, grid_h, grid_w)
            .map_err(|e| e.to_string())
            .and_then(|img| {
                let path = dir.join(format!("{}_step{done:03}.png", job.seed));
                write_png(&path, img.width, img.height, &img.pixels).map(|()| path)
            });
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match written {
            Ok(path) => tracing::info!(
                step = done,
                preview_ms = ms,
                step_ms = report.seconds * 1e3,
                path = %path.display(),
                "live preview written"
            ),
            Err(e) => failure = Some(e),
        }
    };
    let finished = pipeline.run_traced(job, None, events, cancel, &mut trace)?;
    if let Some(e) = failure {
        return Err(PipelineError::Preview(e));
    }
    Ok(finished)
}

fn write_png(path: &std::path::Path, width: u32, height: u32, rgb: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}
