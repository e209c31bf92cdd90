//! Starting from an image (formats §7.4) on the tiny bf16 checkpoint, float32 on the CPU, with
//! the `pipeline_e2e_turbo12` golden's prompt, schedule and injected noise:
//!
//! * strength 1 is text to image: the same latent and pixels as the plain run, which itself
//!   matches the golden's final latent;
//! * strength 0.5 runs the last 6 of 12 steps, entering at loop index 5 with
//!   `σ·source + (1 − σ)·noise`, σ = s[6], computed here by hand;
//! * with a mask, the kept tokens of the final latent are the source latent (bit for bit) and
//!   the repainted ones are not;
//! * a pixel source goes through the VAE encoder (the golden's own image as source).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use ideogram4::mlx::io;
use ideogram4::model::dit::QueryChunking;
use ideogram4::model::linear::Compute;
use ideogram4::pipeline::{JobSpec, LoadOptions, Pipeline, StartImage, StartSource, Trace};
use ideogram4::sampler::{Guidance, ImageSize, LogitNormalSchedule, SamplerParams, Schedule};
use ideogram4::weights::Checkpoint;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Golden {
    json: serde_json::Value,
    tensors: Vec<(String, ideogram4::mlx::Array)>,
}

impl Golden {
    fn load() -> Golden {
        let dir = fixtures().join("golden");
        let text = std::fs::read_to_string(dir.join("pipeline_e2e_turbo12.json")).unwrap();
        Golden {
            json: serde_json::from_str(&text).unwrap(),
            tensors: io::load_safetensors(&dir.join("pipeline_e2e_turbo12.safetensors"))
                .unwrap()
                .tensors,
        }
    }

    fn f32s(&self, name: &str) -> Vec<f32> {
        let (_, a) = self.tensors.iter().find(|(n, _)| n == name).unwrap();
        a.to_f32_vec().unwrap()
    }

    fn u8s(&self, name: &str) -> Vec<u8> {
        let (_, a) = self.tensors.iter().find(|(n, _)| n == name).unwrap();
        a.to_vec::<u8>().unwrap()
    }

    fn schedule(&self) -> (Schedule, SamplerParams) {
        let s = &self.json["schedule"];
        let guidance: Vec<f32> = s["guidance_schedule_loop_index_order"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let (mean, std) = (
            s["schedule_mean"].as_f64().unwrap(),
            s["schedule_std"].as_f64().unwrap(),
        );
        let schedule = Schedule::new(LogitNormalSchedule::new(mean, std), &guidance);
        let sampler =
            SamplerParams::custom(guidance.len(), mean, std, Guidance::Schedule(guidance)).unwrap();
        (schedule, sampler)
    }

    fn job(&self) -> JobSpec {
        let (_, sampler) = self.schedule();
        let mut job = JobSpec::new(
            self.json["prompt"].as_str().unwrap(),
            sampler,
            ImageSize::new(64, 48),
            0,
        );
        job.init_noise = Some(self.f32s("z0"));
        job
    }
}

fn pipeline() -> Pipeline {
    let ckpt = Checkpoint::open(&fixtures().join("tiny-ideogram4-bf16")).unwrap();
    Pipeline::from_checkpoint(
        ckpt,
        "tiny".into(),
        LoadOptions {
            compute: Some(Compute::CPU),
            keep_text_encoder: false,
            chunking: QueryChunking::Whole,
            ..LoadOptions::default()
        },
    )
    .unwrap()
}

/// What a run gave: every step's (loop index, latent in), the final latent, the pixels.
struct Run {
    steps: Vec<(usize, Vec<f32>)>,
    z_final: Vec<f32>,
    pixels: Vec<u8>,
}

fn run(p: &mut Pipeline, g: &Golden, start: Option<&StartImage>) -> Run {
    let (schedule, _) = g.schedule();
    let mut steps = Vec::new();
    let mut z_final = Vec::new();
    let finished = p
        .run_from(
            &g.job(),
            start,
            Some(schedule),
            &mut |_| {},
            &AtomicBool::new(false),
            &mut |t| {
                if let Trace::Step(r) = t {
                    steps.push((r.step.index, r.z_in.to_f32_vec().unwrap()));
                    z_final = r.z_out.to_f32_vec().unwrap();
                }
            },
        )
        .unwrap();
    Run {
        steps,
        z_final,
        pixels: finished.pixels,
    }
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn strength_one_is_text_to_image() {
    let g = Golden::load();
    let mut p = pipeline();
    let plain = run(&mut p, &g, None);
    let start = StartImage {
        source: StartSource::Tokens(vec![3.0; 12 * 16]),
        strength: 1.0,
        mask: None,
    };
    let from_image = run(&mut p, &g, Some(&start));
    assert_eq!(from_image.steps.len(), 12);
    assert_eq!(
        from_image.steps[0].1,
        g.f32s("z0"),
        "starts from the noise itself"
    );
    assert_eq!(from_image.z_final, plain.z_final);
    assert_eq!(from_image.pixels, plain.pixels);
    let d = max_diff(&plain.z_final, &g.f32s("z_final"));
    eprintln!("strength 1 vs golden z_final: {d:.3e}");
    assert!(d < 1e-3, "{d}");
}

#[test]
fn half_strength_enters_half_way_with_the_noised_source() {
    let g = Golden::load();
    let (schedule, _) = g.schedule();
    let mut p = pipeline();
    let source = g.f32s("z_final");
    let noise = g.f32s("z0");
    let start = StartImage {
        source: StartSource::Tokens(source.clone()),
        strength: 0.5,
        mask: None,
    };
    let r = run(&mut p, &g, Some(&start));
    let indices: Vec<usize> = r.steps.iter().map(|s| s.0).collect();
    assert_eq!(indices, vec![5, 4, 3, 2, 1, 0]);
    // σ = s[num_run] with num_run = ⌊12·0.5⌋ = 6: the time the first run step is fed.
    let sigma = schedule.sigmas[6];
    assert_eq!(schedule.steps[6].t, sigma);
    assert!(sigma > 0.0 && sigma < 1.0);
    let expected: Vec<f32> = source
        .iter()
        .zip(&noise)
        .map(|(z, n)| sigma * z + (1.0 - sigma) * n)
        .collect();
    let d = max_diff(&r.steps[0].1, &expected);
    assert!(d < 1e-5, "start latent off by {d}");
    // Not the noise and not the source: the mix.
    assert!(max_diff(&r.steps[0].1, &noise) > 0.1 && max_diff(&r.steps[0].1, &source) > 0.1);
}

#[test]
fn masked_tokens_are_repainted_and_kept_ones_are_the_source() {
    let g = Golden::load();
    let mut p = pipeline();
    let source: Vec<f32> = g.f32s("z_final").iter().map(|v| v * 0.5 + 1.0).collect();
    // 64×48: tokens 4 wide, 3 high; repaint the left half (token columns 0 and 1).
    let (w, h) = (64, 48);
    let mask: Vec<u8> = (0..w * h)
        .map(|i| if i % w < 32 { 255 } else { 0 })
        .collect();
    let start = StartImage {
        source: StartSource::Tokens(source.clone()),
        strength: 0.85,
        mask: Some(mask),
    };
    let r = run(&mut p, &g, Some(&start));
    assert_eq!(r.steps.len(), 10, "⌊12·0.85⌋ steps");
    let channels = 16;
    let (mut kept, mut repainted) = (0, 0);
    for token in 0..12 {
        let got = &r.z_final[token * channels..(token + 1) * channels];
        let want = &source[token * channels..(token + 1) * channels];
        if token % 4 < 2 {
            repainted += 1;
            assert!(max_diff(got, want) > 1e-2, "token {token} was repainted");
        } else {
            kept += 1;
            assert_eq!(got, want, "token {token} is kept");
        }
    }
    assert_eq!((kept, repainted), (6, 6));
}

#[test]
fn pixel_sources_go_through_the_encoder() {
    let g = Golden::load();
    let mut p = pipeline();
    let pixels = g.u8s("image_uint8");
    let start = StartImage {
        source: StartSource::Pixels(pixels.clone()),
        strength: 0.25,
        mask: None,
    };
    let r = run(&mut p, &g, Some(&start));
    assert_eq!(r.steps.len(), 3);
    assert_eq!(r.pixels.len(), pixels.len());
    // A wrong-sized source is an error, not a panic.
    let bad = StartImage {
        source: StartSource::Pixels(vec![0; 10]),
        strength: 0.5,
        mask: None,
    };
    let (schedule, _) = g.schedule();
    let e = p
        .run_from(
            &g.job(),
            Some(&bad),
            Some(schedule),
            &mut |_| {},
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .err()
        .unwrap();
    assert!(e.to_string().contains("64x48"), "{e}");
}
