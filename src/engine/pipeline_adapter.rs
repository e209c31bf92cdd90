//! The real pipeline behind the engine's [`Generator`] interface, and the list of models
//! found in the local Hugging Face cache for the model picker.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::generator::{
    GenerateError, Generated, Generator, ModelLoader, Report, Request, RgbImage, RunStats, Warning,
};
use super::job::ModelSpec;
use crate::output::GenerationRecord;
use crate::pipeline::{self, Event, LoadOptions, Pipeline, PipelineError};
use crate::sampler::SizeLimits;

pub struct PipelineGenerator {
    pipeline: Pipeline,
    run: RunOptions,
    /// The live preview's latent-to-colour map, fitted on first use.
    latent_rgb: Option<crate::pipeline::preview::LatentRgb>,
}

/// How every job of a loader runs, beyond what a queued job says (the CLI's flags).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Go on when the caption verifier warns (`--warn-on-caption-issues`).
    pub allow_caption_warnings: bool,
    /// Guidance truncation (`--cfg-end`).
    pub cfg_end: Option<f64>,
    /// The initial latent instead of seeded noise: a safetensors file with one float32
    /// tensor `noise` of shape (1, tokens, channels).
    pub init_noise: Option<PathBuf>,
}

impl PipelineGenerator {
    pub fn load(
        model: &ModelSpec,
        options: LoadOptions,
    ) -> Result<PipelineGenerator, PipelineError> {
        Ok(PipelineGenerator {
            pipeline: Pipeline::load(model, options)?,
            run: RunOptions::default(),
            latent_rgb: None,
        })
    }
}

/// A loader for the real pipeline whose DiTs come from elsewhere (`--dit`, `--uncond-dit`),
/// whatever model is picked.
pub fn pipeline_loader_with_dits(
    options: LoadOptions,
    dits: crate::weights::DitOverrides,
) -> impl ModelLoader {
    pipeline_loader_for(options, dits, RunOptions::default())
}

/// The most general loader: load options, DiT sources and how its jobs run.
pub fn pipeline_loader_for(
    options: LoadOptions,
    dits: crate::weights::DitOverrides,
    run: RunOptions,
) -> impl ModelLoader {
    move |model: &ModelSpec| {
        Pipeline::load_with(model, &dits, options)
            .map(|pipeline| {
                Box::new(PipelineGenerator {
                    pipeline,
                    run: run.clone(),
                    latent_rgb: None,
                }) as Box<dyn Generator>
            })
            .map_err(|e| crate::logging::error_chain(&e))
    }
}

/// The engine's default loader: the real pipeline with default options.
pub fn pipeline_loader(model: &ModelSpec) -> Result<Box<dyn Generator>, String> {
    load_generator(model, LoadOptions::default())
}

/// A loader for the real pipeline with `options` (e.g. the text encoder kept resident).
pub fn pipeline_loader_with(options: LoadOptions) -> impl ModelLoader {
    move |model: &ModelSpec| load_generator(model, options)
}

fn load_generator(model: &ModelSpec, options: LoadOptions) -> Result<Box<dyn Generator>, String> {
    PipelineGenerator::load(model, options)
        .map(|g| Box::new(g) as Box<dyn Generator>)
        .map_err(|e| crate::logging::error_chain(&e))
}

impl Generator for PipelineGenerator {
    fn describe(&self) -> String {
        let info = self.pipeline.info();
        let text_encoder = if self.pipeline.keeps_text_encoder() {
            "text encoder kept"
        } else {
            "text encoder streamed"
        };
        format!(
            "{} · {} weights · {:.1}s to load · {} MiB resident · {text_encoder}",
            info.name,
            info.weight_format,
            info.load_seconds,
            info.resident_bytes >> 20
        )
    }

    fn size_limits(&self) -> SizeLimits {
        self.pipeline.info().size_limits
    }

    fn info(&self) -> Option<pipeline::ModelInfo> {
        Some(self.pipeline.info().clone())
    }

    fn generate(
        &mut self,
        request: &Request<'_>,
        progress: &mut dyn FnMut(Report),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        let prepared = match request.start {
            Some(start) => Some(start.prepare(request.size)?),
            None => None,
        };
        for note in prepared.iter().flat_map(|p| &p.notes) {
            progress(Report::Warning(Warning::StartImage(note.clone())));
        }
        let size = prepared.as_ref().map_or(request.size, |p| p.canvas);
        let mut job =
            pipeline::JobSpec::new(request.caption, request.params.clone(), size, request.seed);
        job.allow_caption_warnings = self.run.allow_caption_warnings;
        job.cfg_end = self.run.cfg_end;
        if let Some(path) = &self.run.init_noise {
            let channels = self.pipeline.info().in_channels;
            job.init_noise = Some(crate::pipeline::init_noise::read(path, size, channels)?);
        }
        if request.preview_every > 0 && self.latent_rgb.is_none() {
            match self.pipeline.fit_latent_rgb(8) {
                Ok(map) => self.latent_rgb = Some(map),
                Err(e) => tracing::warn!("live preview off: {}", crate::logging::error_chain(&e)),
            }
        }
        let progress = std::cell::RefCell::new(progress);
        let total_steps = std::cell::Cell::new(0usize);
        let preview = self
            .latent_rgb
            .as_ref()
            .filter(|_| request.preview_every > 0);
        let grid = (
            (size.height / crate::sampler::PIXELS_PER_TOKEN) as usize,
            (size.width / crate::sampler::PIXELS_PER_TOKEN) as usize,
        );
        let mut trace = |t: pipeline::Trace<'_>| {
            let (Some(map), pipeline::Trace::Step(report)) = (preview, t) else {
                return;
            };
            let done = report.position + 1;
            // The last step's image is the decoded one, soon.
            let last = report.step.index == 0 && !request.preview_last;
            if done % request.preview_every != 0 || last {
                return;
            }
            let started = std::time::Instant::now();
            match map.step_preview(&report, grid.0, grid.1) {
                Ok(img) => {
                    tracing::debug!(
                        step = done,
                        preview_ms = started.elapsed().as_secs_f64() * 1e3,
                        step_ms = report.seconds * 1e3,
                        "live preview"
                    );
                    (progress.borrow_mut())(Report::Preview {
                        step: done,
                        total: total_steps.get(),
                        image: img,
                    });
                }
                Err(e) => tracing::warn!("live preview: {}", crate::logging::error_chain(&e)),
            }
        };
        job.adapters = request.adapters.to_vec();
        let mut events = |event: &Event| match event {
            Event::Stage(stage) => (progress.borrow_mut())(Report::Phase(*stage)),
            Event::Step(p) => {
                total_steps.set(p.total);
                (progress.borrow_mut())(Report::Step(*p))
            }
            Event::CaptionWarnings(text) => {
                (progress.borrow_mut())(Report::Warning(Warning::Caption(text.clone())))
            }
        };
        let start = prepared.as_ref().map(|p| &p.start);
        match self
            .pipeline
            .run_from(&job, start, None, &mut events, cancel, &mut trace)
        {
            Ok(done) => Ok(Generated {
                stats: Some(RunStats {
                    timings: done.timings,
                    peak_memory: done.peak_memory,
                    dit_passes: done.dit_passes,
                    transformers_loaded: done.transformers_loaded,
                    warnings: self.pipeline.take_adapter_warnings(),
                }),
                parameters: with_start_record(done.record, prepared.as_ref()),
                image: RgbImage {
                    width: done.width,
                    height: done.height,
                    pixels: done.pixels,
                },
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// The `init_image` block next to the other parameters, as `generate` writes it.
fn with_start_record(
    mut record: GenerationRecord,
    prepared: Option<&crate::pipeline::start_prepare::Prepared>,
) -> GenerationRecord {
    if let Some(p) = prepared {
        record.extra.insert("init_image".into(), p.record.clone());
    }
    record
}

/// Repositories in the Hugging Face cache that hold a checkpoint
/// ([`crate::weights::hub::cache::CachedRepo::holds_checkpoint`]), as model choices.
pub fn cached_models() -> Vec<ModelSpec> {
    cached_models_in(&pipeline::hf_cache_dirs())
}

pub fn cached_models_in(caches: &[PathBuf]) -> Vec<ModelSpec> {
    let mut found = Vec::new();
    for cache in caches {
        let repos = crate::weights::hub::cache::scan(cache).unwrap_or_default();
        for repo in repos.into_iter().filter(|r| r.holds_checkpoint()) {
            let spec = ModelSpec::Repo(repo.repo_id);
            if !found.contains(&spec) {
                found.push(spec);
            }
        }
    }
    found.sort_by_key(|m| m.to_string());
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_only_cached_repos_with_a_transformer() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir
            .path()
            .join("models--ideogram-ai--ideogram-4-nf4/snapshots/abc/transformer");
        std::fs::create_dir_all(&good).unwrap();
        std::fs::create_dir_all(
            dir.path()
                .join("models--other--tokenizer-only/snapshots/abc"),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("datasets--x--y/snapshots/abc/transformer"))
            .unwrap();
        assert_eq!(
            cached_models_in(&[dir.path().to_path_buf(), dir.path().join("missing")]),
            vec![ModelSpec::Repo("ideogram-ai/ideogram-4-nf4".into())]
        );
    }
}
