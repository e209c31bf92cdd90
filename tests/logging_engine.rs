//! What the engine thread (the terminal app's worker) writes to the log: the real log file
//! installed by `ideogram4::logging`, with a small generator in place of a model so that the
//! finished, failed and cancelled paths all run in milliseconds. One test per binary: the
//! logger is process-global.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::channel;
use std::time::Duration;

use ideogram4::engine::{
    Engine, EngineEvent, EngineOptions, GenerateError, Generated, Generator, Job, JobSpec,
    ModelSpec, Queue, Report, Request, RgbImage, StepInfo,
};
use ideogram4::logging::{self, caption_digest};
use ideogram4::output::GenerationRecord;
use ideogram4::sampler::{ImageSize, Preset, SizeLimits};
use tracing::level_filters::LevelFilter;

const CAPTION: &str = r#"{"high_level_description": "A lighthouse at dusk, secret words."}"#;

/// Three steps, then a 2×2 image; seed 13 fails the way a broken model would.
struct Steps;

impl Generator for Steps {
    fn describe(&self) -> String {
        "three steps".into()
    }

    fn size_limits(&self) -> SizeLimits {
        SizeLimits::TinyModel
    }

    fn generate(
        &mut self,
        request: &Request<'_>,
        progress: &mut dyn FnMut(Report),
        _cancel: &AtomicBool,
    ) -> Result<Generated, GenerateError> {
        progress(Report::Stage("sampling".into()));
        for step in 1..=3 {
            progress(Report::Step(StepInfo {
                step,
                total: 3,
                seconds_per_step: 0.01,
                eta_seconds: 0.01 * (3 - step) as f64,
                memory: Default::default(),
            }));
        }
        if request.seed == 13 {
            return Err(GenerateError::Failed("the transformer returned NaN".into()));
        }
        Ok(Generated {
            image: RgbImage {
                width: 2,
                height: 2,
                pixels: vec![0; 12],
            },
            parameters: GenerationRecord::new(
                request.caption,
                request.params.clone(),
                request.seed,
                request.size,
                "demo",
                "none",
            ),
            stats: None,
        })
    }
}

fn spec(seed: u64) -> JobSpec {
    JobSpec {
        caption: CAPTION.into(),
        params: Preset::Turbo12.into(),
        size: ImageSize::new(64, 64),
        seed,
        model: ModelSpec::Demo,
        adapters: Vec::new(),
        start: None,
    }
}

#[test]
fn engine_logs_loads_jobs_failures_and_cancels_without_the_caption() {
    let dir = tempfile::tempdir().unwrap();
    let log = logging::log_path(dir.path());
    let installed = logging::install(&log, LevelFilter::DEBUG).unwrap();
    assert_eq!(installed.path, log);
    assert!(matches!(
        logging::install(&log, LevelFilter::DEBUG),
        Err(logging::LogError::AlreadyInstalled)
    ));

    let out = dir.path().join("images");
    let sink_dir = out.clone();
    let (tx, rx) = channel();
    let engine = Engine::start(
        EngineOptions::default(),
        Box::new(|_: &ModelSpec| Ok(Box::new(Steps) as Box<dyn Generator>)),
        Box::new(move |job: &Job, _: &Generated| -> Result<PathBuf, String> {
            Ok(sink_dir.join(format!("{}.png", job.spec.seed)))
        }),
        Queue::default(),
        Box::new(move |e| {
            let _ = tx.send(e);
        }),
    );
    engine.set_paused(true);
    let ids = engine.submit(vec![spec(11), spec(12), spec(13)]);
    engine.cancel(ids[1]);
    engine.set_paused(false);
    let mut ended = 0;
    while ended < 2 {
        match rx
            .recv_timeout(Duration::from_secs(60))
            .expect("engine event")
        {
            EngineEvent::Finished { .. } | EngineEvent::Failed { .. } => ended += 1,
            _ => {}
        }
    }
    drop(engine);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines =
        |needle: &str| -> Vec<&str> { text.lines().filter(|l| l.contains(needle)).collect() };
    assert_eq!(lines("engine thread started").len(), 1, "{text}");
    let loaded = lines("model loaded");
    assert!(
        loaded.len() == 1 && loaded[0].contains("model=demo") && loaded[0].contains("seconds="),
        "{text}"
    );
    let cancel = lines("cancel requested");
    assert!(
        cancel.len() == 1 && cancel[0].contains(&format!("job={}", ids[1])),
        "{text}"
    );

    // The cancelled job never started; the other two did, named by digest only.
    let started = lines("job started");
    assert_eq!(started.len(), 2, "{text}");
    for (line, seed) in started.iter().zip([11, 13]) {
        for field in [
            format!("seed={seed}"),
            "steps=12".into(),
            "size=64x64".into(),
            format!("caption={}", caption_digest(CAPTION)),
            format!("caption_chars={}", CAPTION.chars().count()),
        ] {
            assert!(line.contains(&field), "{field} missing: {line}");
        }
    }
    let finished = lines("job finished");
    assert!(
        finished.len() == 1
            && finished[0].contains(&format!("job={}", ids[0]))
            && finished[0].contains(&format!("output={}", out.join("11.png").display()))
            && finished[0].contains("peak_memory="),
        "{text}"
    );
    let failed = lines("job failed");
    assert!(
        failed.len() == 1
            && failed[0].contains(" ERROR ")
            && failed[0].contains("the transformer returned NaN"),
        "{text}"
    );
    // Debug level: one line per step of both jobs.
    let steps = text
        .lines()
        .filter(|l| l.contains(" DEBUG ") && l.contains("total=3"))
        .count();
    assert_eq!(steps, 6, "{text}");
    assert!(!text.contains("lighthouse"), "the caption leaked:\n{text}");
}
