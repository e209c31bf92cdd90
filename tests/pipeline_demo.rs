//! The pipeline on the built-in demo model: job flow, caching, memory policy, cancellation,
//! seeds and the errors a caller can cause.

use std::sync::atomic::{AtomicBool, Ordering};

use ideogram4::mlx::memory;
use ideogram4::pipeline::{
    Event, JobSpec, LoadOptions, ModelSource, Pipeline, PipelineError, Stage,
};
use ideogram4::sampler::{Guidance, ImageSize, Preset, SamplerParams, SizeLimits};

const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}"##;

fn demo() -> Pipeline {
    Pipeline::load(&ModelSource::Demo, LoadOptions::default()).expect("demo model")
}

const OTHER_CAPTION: &str = r##"{"high_level_description": "A blue boat on a lake.", "style_description": {"aesthetics": "calm", "lighting": "overcast", "photo": "50mm lens", "medium": "photograph", "color_palette": ["#2E86C1", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a misty lake", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a blue boat"}]}}"##;

fn job(seed: u64) -> JobSpec {
    job_with_caption(seed, CAPTION)
}

fn job_with_caption(seed: u64, caption: &str) -> JobSpec {
    let sampler = SamplerParams::custom(3, 0.5, 1.0, Guidance::Constant(5.0)).unwrap();
    JobSpec::new(caption, sampler, ImageSize::new(64, 48), seed)
}

fn run(
    p: &mut Pipeline,
    job: &JobSpec,
) -> (
    Result<ideogram4::pipeline::Finished, PipelineError>,
    Vec<Event>,
) {
    let mut events = Vec::new();
    let r = p.run(
        job,
        &mut |e| events.push(e.clone()),
        &AtomicBool::new(false),
    );
    (r, events)
}

#[test]
fn demo_job_makes_an_image_with_its_record_and_reports_every_step() {
    let mut p = demo();
    assert_eq!(p.info().name, "demo");
    assert_eq!(p.info().weight_format, "bf16");
    assert_eq!(p.info().size_limits, SizeLimits::TinyModel);
    assert_eq!(p.info().in_channels, 16);
    let (r, events) = run(&mut p, &job(7));
    let done = r.unwrap();
    assert_eq!((done.width, done.height), (64, 48));
    assert_eq!(done.pixels.len(), 64 * 48 * 3);
    // Random weights still give a non-constant image.
    assert!(done.pixels.iter().any(|&v| v != done.pixels[0]));
    let steps: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Step(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps.iter().map(|s| s.step).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(steps
        .iter()
        .all(|s| s.total == 3 && s.seconds_per_step > 0.0));
    assert_eq!(steps[2].eta_seconds, 0.0);
    assert!(steps[0].memory.active > 0);
    // By default the encoder is streamed while encoding, not loaded as a whole first.
    assert!(events.contains(&Event::Stage(Stage::EncodingText { cached: false })));
    assert!(!events.contains(&Event::Stage(Stage::LoadingTextEncoder)));
    assert!(events.contains(&Event::Stage(Stage::Decoding)));

    let rec = done.record.to_value();
    assert_eq!(rec["caption"], CAPTION);
    assert_eq!(rec["seed"], 7);
    assert_eq!(
        (rec["width"].as_u64(), rec["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(rec["model"], "demo");
    assert_eq!(rec["weight_format"], "bf16");
    assert_eq!(rec["sampler"]["preset"], "custom");
    assert_eq!(rec["sampler"]["steps"], 3);
    assert!(rec.get("token_ids").is_none());
}

#[test]
fn same_seed_same_image_and_cached_text_skips_the_encoder() {
    let mut p = demo();
    let (a, _) = run(&mut p, &job(1));
    let a = a.unwrap();
    assert!(!a.timings.text_cached);
    assert!(
        !p.text_encoder_resident(),
        "the encoder is released before sampling"
    );
    assert_eq!(p.cached_captions(), 1);

    let (b, events) = run(&mut p, &job(1));
    let b = b.unwrap();
    assert!(b.timings.text_cached);
    assert!(events.contains(&Event::Stage(Stage::EncodingText { cached: true })));
    assert!(!events.contains(&Event::Stage(Stage::LoadingTextEncoder)));
    assert_eq!(a.pixels, b.pixels, "same caption and seed: same image");

    let (c, _) = run(&mut p, &job(2));
    assert_ne!(a.pixels, c.unwrap().pixels, "another seed: another image");
}

#[test]
fn keeping_the_text_encoder_keeps_it_resident() {
    let mut p = Pipeline::load(
        &ModelSource::Demo,
        LoadOptions {
            keep_text_encoder: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let (first, events) = run(&mut p, &job(1));
    assert!(events.contains(&Event::Stage(Stage::LoadingTextEncoder)));
    assert!(p.text_encoder_resident());
    // A new caption reuses the resident encoder: no second load, same image as streaming.
    let (second, events) = run(&mut p, &job_with_caption(1, OTHER_CAPTION));
    assert!(!events.contains(&Event::Stage(Stage::LoadingTextEncoder)));
    let mut streaming = demo();
    let (streamed, _) = run(&mut streaming, &job_with_caption(1, OTHER_CAPTION));
    assert_eq!(second.unwrap().pixels, streamed.unwrap().pixels);
    drop(first);
}

#[test]
fn cancelling_between_steps_leaves_no_memory_behind() {
    let mut p = demo();
    run(&mut p, &job(1)).0.unwrap();
    memory::clear_cache();
    let before = memory::active();
    let cancel = AtomicBool::new(false);
    let mut steps = 0;
    let r = p.run(
        &job(3),
        &mut |e| {
            if let Event::Step(_) = e {
                steps += 1;
                cancel.store(true, Ordering::Relaxed);
            }
        },
        &cancel,
    );
    assert!(matches!(r, Err(PipelineError::Cancelled)), "{r:?}");
    assert_eq!(steps, 1, "cancel is seen before the next step");
    assert_eq!(memory::active(), before, "job arrays dropped");
    assert_eq!(memory::cache(), 0, "MLX cache cleared");
}

#[test]
fn injected_noise_replaces_the_seeded_draw() {
    let mut p = demo();
    let mut j = job(5);
    let tokens = (64 / 16) * (48 / 16);
    j.init_noise = Some(vec![0.25; tokens * 16]);
    let a = run(&mut p, &j).0.unwrap();
    j.seed = 6;
    let b = run(&mut p, &j).0.unwrap();
    assert_eq!(
        a.pixels, b.pixels,
        "the seed does not matter with injected noise"
    );
    j.init_noise = Some(vec![0.25; tokens * 16 - 1]);
    let e = run(&mut p, &j).0.unwrap_err().to_string();
    assert!(e.contains("expected (1, 12, 16)"), "{e}");
}

#[test]
fn caption_warnings_abort_unless_allowed() {
    let mut p = demo();
    let mut j = job(1);
    j.caption = "a cat".into();
    let e = run(&mut p, &j).0.unwrap_err();
    let PipelineError::Caption { message } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        message,
        "caption verifier flagged prompt[0]:\ninvalid JSON: Expecting value: line 1 column 1 (char 0)"
    );
    j.allow_caption_warnings = true;
    let (r, events) = run(&mut p, &j);
    r.unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::CaptionWarnings(m) if m.contains("invalid JSON"))));
}

#[test]
fn refuses_long_prompts_and_bad_sizes_with_the_official_messages() {
    let mut p = demo();
    let mut j = job(1);
    j.allow_caption_warnings = true;
    j.caption = "word ".repeat(3000);
    let e = run(&mut p, &j).0.unwrap_err().to_string();
    assert!(
        e.starts_with("prompt has ") && e.ends_with(" tokens, exceeds max_text_tokens=2048"),
        "{e}"
    );
    let mut j = job(1);
    j.size = ImageSize::new(60, 48);
    let e = run(&mut p, &j).0.unwrap_err().to_string();
    assert!(e.contains("width 60 is not a multiple of 16"), "{e}");
    let mut j = job(1);
    j.sampler = Preset::Turbo12.into();
    j.size = ImageSize::new(4096, 64);
    assert!(run(&mut p, &j).0.is_err());
}
