//! The real pipeline behind the engine's [`Generator`] interface, and the list of models
//! found in the local Hugging Face cache for the model picker.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use super::generator::{
    GenerateError, Generated, Generator, ModelLoader, Report, Request, RgbImage, StepInfo,
};
use super::job::ModelSpec;
use crate::pipeline::{self, Event, LoadOptions, ModelSource, Pipeline, PipelineError};
use crate::sampler::SizeLimits;

pub struct PipelineGenerator {
    pipeline: Pipeline,
    /// The live preview's latent-to-colour map, fitted on first use.
    latent_rgb: Option<crate::pipeline::preview::LatentRgb>,
}

impl PipelineGenerator {
    pub fn load(
        model: &ModelSpec,
        options: LoadOptions,
    ) -> Result<PipelineGenerator, PipelineError> {
        let source = ModelSource::parse(&model.to_string());
        Ok(PipelineGenerator {
            pipeline: Pipeline::load(&source, options)?,
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
    move |model: &ModelSpec| {
        let source = ModelSource::parse(&model.to_string());
        Pipeline::load_with(&source, &dits, options)
            .map(|pipeline| {
                Box::new(PipelineGenerator {
                    pipeline,
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

    fn generate(
        &mut self,
        request: &Request<'_>,
        progress: &mut dyn FnMut(Report),
        cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        let prepared = match request.start {
            Some(start) => Some(
                start
                    .prepare(request.size)
                    .map_err(|e| GenerateError::Failed(e.to_string()))?,
            ),
            None => None,
        };
        for note in prepared.iter().flat_map(|p| &p.notes) {
            progress(Report::Stage(note.clone()));
        }
        let size = prepared.as_ref().map_or(request.size, |p| p.canvas);
        let mut job =
            pipeline::JobSpec::new(request.caption, request.params.clone(), size, request.seed);
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
            if done % request.preview_every != 0 || report.step.index == 0 {
                return; // the last step's image is the decoded one
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
                        image: RgbImage {
                            width: img.width,
                            height: img.height,
                            pixels: img.pixels,
                        },
                    });
                }
                Err(e) => tracing::warn!("live preview: {}", crate::logging::error_chain(&e)),
            }
        };
        job.adapters = request.adapters.to_vec();
        let mut events = |event: &Event| match event {
            Event::Stage(stage) => {
                (progress.borrow_mut())(Report::Stage(stage.label().to_string()))
            }
            Event::Step(p) => {
                total_steps.set(p.total);
                (progress.borrow_mut())(Report::Step(StepInfo {
                    step: p.step,
                    total: p.total,
                    secs_per_step: p.seconds_per_step,
                    eta_secs: p.eta_seconds,
                    memory: p.memory,
                }))
            }
            Event::CaptionWarnings(text) => {
                tracing::warn!(
                    warnings = crate::logging::verifier_warning_count(text),
                    "the caption verifier warned; going on as allowed"
                );
                (progress.borrow_mut())(Report::Stage(text.clone()));
            }
        };
        let start = prepared.as_ref().map(|p| &p.start);
        match self
            .pipeline
            .run_from(&job, start, None, &mut events, cancel, &mut trace)
        {
            Ok(done) => Ok(Generated {
                parameters: with_start_record(done.record.to_value(), prepared.as_ref()),
                image: RgbImage {
                    width: done.width,
                    height: done.height,
                    pixels: done.pixels,
                },
            }),
            Err(PipelineError::Cancelled) => Err(GenerateError::Cancelled),
            Err(e) => Err(GenerateError::Failed(crate::logging::error_chain(&e))),
        }
    }
}

/// The `init_image` block next to the other parameters, as `generate` writes it.
fn with_start_record(
    mut parameters: serde_json::Value,
    prepared: Option<&crate::pipeline::start_prepare::Prepared>,
) -> serde_json::Value {
    if let (Some(p), Some(map)) = (prepared, parameters.as_object_mut()) {
        map.insert("init_image".into(), p.record.clone());
    }
    parameters
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
