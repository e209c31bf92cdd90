//! The live preview on the demo model: the x0 prediction of each step mapped to colour by the
//! linear map fitted to the model's own decoder, checked against what the decoder makes of
//! the finished latent; and `generate --preview-every N DIR` writing the previews as files.

use std::sync::atomic::AtomicBool;

use ideogram4::pipeline::preview::{x0_prediction, PreviewImage};
use ideogram4::pipeline::{JobSpec, LoadOptions, ModelSource, Pipeline, Trace};
use ideogram4::sampler::{Guidance, ImageSize, SamplerParams, PIXELS_PER_TOKEN};

const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}"##;

#[test]
fn x0_points_at_the_final_latent_and_previews_have_the_latent_size() {
    let mut p = Pipeline::load(&ModelSource::Demo, LoadOptions::default()).expect("demo model");
    let map = p.fit_latent_rgb(8).expect("fit");
    let size = ImageSize::new(128, 96);
    let sampler = SamplerParams::custom(8, 0.5, 1.0, Guidance::Constant(4.0)).unwrap();
    let job = JobSpec::new(CAPTION, sampler, size, 11);
    let (gh, gw) = (
        (size.height / PIXELS_PER_TOKEN) as usize,
        (size.width / PIXELS_PER_TOKEN) as usize,
    );
    let mut previews: Vec<PreviewImage> = Vec::new();
    // Per step: distance of x0 from the final latent, and of the mis-signed x0 (z − (1−t)·v).
    let mut steps: Vec<(f64, f64)> = Vec::new();
    let mut x0s: Vec<Vec<f32>> = Vec::new();
    let mut wrong: Vec<Vec<f32>> = Vec::new();
    let mut last_z = Vec::new();
    p.run_traced(&job, None, &mut |_| {}, &AtomicBool::new(false), &mut |t| {
        if let Trace::Step(r) = t {
            previews.push(map.step_preview(&r, gh, gw).expect("preview"));
            let x0 = x0_prediction(&r).unwrap();
            let z = r.z_in.to_vec::<f32>().unwrap();
            // The mis-signed prediction: z − (z_x0 − z) = 2z − x0.
            wrong.push(z.iter().zip(&x0).map(|(z, x)| 2.0 * z - x).collect());
            x0s.push(x0);
            last_z = r.z_out.to_vec::<f32>().unwrap();
        }
    })
    .expect("job");
    let dist = |a: &[f32], b: &[f32]| {
        (a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum::<f64>()
            / a.len() as f64)
            .sqrt()
    };
    for (x0, w) in x0s.iter().zip(&wrong) {
        steps.push((dist(x0, &last_z), dist(w, &last_z)));
    }
    eprintln!("x0 → final latent RMS per step (right sign, wrong sign): {steps:?}");
    // The last step's prediction is the final latent up to (1 − t_max)·v.
    let (last_right, last_wrong) = *steps.last().unwrap();
    assert!(
        last_right < 0.05 * last_wrong,
        "{last_right} vs {last_wrong}"
    );
    // Every step's prediction is nearer the result than the opposite sign would be.
    assert!(steps.iter().all(|(r, w)| r < w), "{steps:?}");
    assert_eq!(previews.len(), 8);
    // One pixel per latent pixel: the decoder's 8× upscale undone.
    assert_eq!(map.scale, 8);
    assert_eq!((previews[0].width, previews[0].height), (16, 12));
    assert!(previews.iter().all(|p| p.pixels.len() == 16 * 12 * 3));
}

#[test]
fn generate_writes_previews_every_n_steps() {
    let dir = std::env::temp_dir().join(format!("ideogram4-preview-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.join("out.png");
    let previews = dir.join("previews");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ideogram4-tui"))
        .args(["generate", "--model", "demo", "--caption", CAPTION])
        .args([
            "--steps", "6", "--width", "64", "--height", "64", "--seed", "5",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--preview-every")
        .arg("2")
        .arg(&previews)
        .env("XDG_DATA_HOME", dir.join("data"))
        .output()
        .expect("runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(&previews)
        .expect("preview dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["5_step002.png", "5_step004.png", "5_step006.png"]);
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(previews.join("5_step004.png")).unwrap(),
    ));
    let info = decoder.read_info().unwrap().info().clone();
    assert_eq!((info.width, info.height), (8, 8));
    let _ = std::fs::remove_dir_all(&dir);
}
