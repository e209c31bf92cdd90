//! The engine thread driving the real pipeline with the demo model: jobs in order, progress
//! events, cancelling waiting and running jobs, failures that leave the engine running, and
//! images written with their parameters by the app's output sink.

use std::path::Path;
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use ideogram4::engine::{
    pipeline_loader, Engine, EngineEvent, EngineOptions, JobSpec, JobStatus, ModelSpec, Queue,
};
use ideogram4::sampler::{Guidance, ImageSize, Preset, SamplerParams};
use ideogram4::tui::output_sink::PatternSink;

const CAPTION: &str = include_str!("fixtures/tui/fox.json");

fn spec(seed: u64, size: u32) -> JobSpec {
    JobSpec {
        caption: CAPTION.to_string(),
        params: Preset::Turbo12.into(),
        size: ImageSize::new(size, size),
        seed,
        model: ModelSpec::Demo,
        adapters: Vec::new(),
        start: None,
    }
}

fn start(out: &Path) -> (Engine, Receiver<EngineEvent>) {
    let (tx, rx) = channel();
    let sink = PatternSink::new(out.to_path_buf(), "{seed}_{preset}".into(), out);
    let engine = Engine::start(
        EngineOptions::default(),
        Box::new(pipeline_loader),
        Box::new(sink),
        Queue::default(),
        Box::new(move |e| {
            let _ = tx.send(e);
        }),
    );
    (engine, rx)
}

/// Events until `stop` says so (or a generous timeout for a slow CPU).
fn collect_until(
    rx: &Receiver<EngineEvent>,
    mut stop: impl FnMut(&EngineEvent) -> bool,
) -> Vec<EngineEvent> {
    let mut events = Vec::new();
    loop {
        let e = rx
            .recv_timeout(Duration::from_secs(600))
            .expect("engine event within 10 minutes");
        let done = stop(&e);
        events.push(e);
        if done {
            return events;
        }
    }
}

#[test]
fn jobs_run_in_queue_order_with_progress_and_a_cancelled_waiting_job_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, rx) = start(dir.path());
    engine.set_paused(true);
    let ids = engine.submit(vec![spec(1, 64), spec(2, 64), spec(3, 64)]);
    assert!(engine.move_job(ids[2], -2), "job 3 first");
    engine.cancel(ids[1]);
    engine.set_paused(false);
    let mut finished = Vec::new();
    let events = collect_until(&rx, |e| {
        if let EngineEvent::Finished { job, .. } = e {
            finished.push(*job);
        }
        finished.len() == 2
    });
    assert_eq!(finished, vec![ids[2], ids[0]], "queue order after the move");
    // Steps of the first job arrive 1..=12 in order.
    let steps: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Progress { job, info } if *job == ids[2] => Some(info.step),
            _ => None,
        })
        .collect();
    assert_eq!(steps, (1..=12).collect::<Vec<_>>());
    assert!(events
        .iter()
        .any(|e| matches!(e, EngineEvent::ModelReady { .. })));
    let loads = events
        .iter()
        .filter(|e| matches!(e, EngineEvent::ModelLoading { .. }))
        .count();
    assert_eq!(loads, 1, "the model stays loaded between jobs");
    let q = engine.queue();
    assert_eq!(q.get(ids[1]).unwrap().status, JobStatus::Cancelled);
    for id in [ids[0], ids[2]] {
        let job = q.get(id).unwrap();
        let path = job.output().expect("done job has an output").to_path_buf();
        let record = ideogram4::output::read_record(&path).unwrap();
        assert_eq!(record.seed, job.spec.seed);
        assert_eq!(record.caption, CAPTION);
        assert_eq!((record.width, record.height), (64, 64));
    }
    let history = ideogram4::output::History::new(dir.path()).load().unwrap();
    assert_eq!(history.entries.len(), 2);
}

#[test]
fn cancelling_the_running_job_stops_it_between_steps() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, rx) = start(dir.path());
    let mut long = spec(7, 64);
    long.params = SamplerParams::custom(400, 0.5, 1.0, Guidance::Constant(7.0)).unwrap();
    let id = engine.submit(vec![long])[0];
    let mut cancelled_at = None;
    let events = collect_until(&rx, |e| match e {
        EngineEvent::Progress { info, .. } if cancelled_at.is_none() => {
            cancelled_at = Some(info.step);
            engine.cancel(id);
            false
        }
        EngineEvent::Cancelled { .. }
        | EngineEvent::Finished { .. }
        | EngineEvent::Failed { .. } => true,
        _ => false,
    });
    assert!(
        matches!(events.last(), Some(EngineEvent::Cancelled { job }) if *job == id),
        "{:?}",
        events.last()
    );
    let last_step = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Progress { info, .. } => Some(info.step),
            _ => None,
        })
        .max()
        .unwrap();
    assert!(last_step < 400, "stopped early at step {last_step}");
    assert_eq!(engine.queue().get(id).unwrap().status, JobStatus::Cancelled);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn failures_are_reported_and_the_engine_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, rx) = start(dir.path());
    let mut bad_size = spec(1, 64);
    bad_size.size = ImageSize::new(72, 64);
    let mut bad_model = spec(2, 64);
    bad_model.model = ModelSpec::Dir(dir.path().join("no-such-checkpoint"));
    let ids = engine.submit(vec![bad_size, bad_model, spec(3, 64)]);
    let mut failures = Vec::new();
    collect_until(&rx, |e| match e {
        EngineEvent::Failed { job, error } => {
            failures.push((*job, error.clone()));
            false
        }
        EngineEvent::Finished { job, .. } => *job == ids[2],
        _ => false,
    });
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0].0, ids[0]);
    assert!(
        failures[0].1.contains("width 72 is not a multiple of 16"),
        "{}",
        failures[0].1
    );
    assert_eq!(failures[1].0, ids[1]);
    assert!(
        failures[1].1.contains("could not be loaded"),
        "{}",
        failures[1].1
    );
    // Retry puts a failed job back to waiting (paused first: otherwise the engine may pick
    // it up, and fail it again, before the status is read).
    engine.set_paused(true);
    assert!(engine.retry(ids[0]));
    assert_eq!(
        engine.queue().get(ids[0]).unwrap().status,
        JobStatus::Waiting
    );
}

#[test]
fn quitting_mid_job_puts_it_back_to_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, rx) = start(dir.path());
    let mut long = spec(9, 64);
    long.params = SamplerParams::custom(400, 0.5, 1.0, Guidance::Constant(7.0)).unwrap();
    let id = engine.submit(vec![long])[0];
    collect_until(&rx, |e| matches!(e, EngineEvent::Progress { .. }));
    let queue = engine.shutdown();
    assert_eq!(queue.get(id).unwrap().status, JobStatus::Waiting);
}

/// The app's `keep_text_encoder` setting reaches the pipeline through the loader, and the
/// model description says which memory policy is in force.
#[test]
fn loader_options_choose_the_text_encoder_policy() {
    use ideogram4::engine::{pipeline_loader_with, ModelLoader};
    use ideogram4::pipeline::LoadOptions;
    let kept = pipeline_loader_with(LoadOptions {
        keep_text_encoder: true,
        ..LoadOptions::default()
    })
    .load(&ModelSpec::Demo)
    .unwrap();
    assert!(
        kept.describe().contains("text encoder kept"),
        "{}",
        kept.describe()
    );
    let streamed = pipeline_loader_with(LoadOptions::default())
        .load(&ModelSpec::Demo)
        .unwrap();
    assert!(
        streamed.describe().contains("text encoder streamed"),
        "{}",
        streamed.describe()
    );
}
