//! Guidance-aware sampling and adapters in the pipeline (tiny NF4 checkpoint): guidance-1
//! steps skip the unconditional forward (counted), all-guidance-1 jobs never read the
//! unconditional DiT (and release it), `cfg_end`, the unconditional-pass LoRA, TurboTime,
//! adapters swapped between jobs without reloading, and the record round trip.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use ideogram4::model::adapter::{sha256, AdapterTarget, AdapterUse};
use ideogram4::pipeline::{
    locate_recorded, recorded_adapters, Finished, JobSpec, LoadOptions, ModelSource, Pipeline,
    PipelineError,
};
use ideogram4::sampler::{Guidance, ImageSize, Preset, SamplerParams};
use ideogram4::weights::hub::HubEnv;
use ideogram4::weights::ComponentKind;

const CAPTION: &str = r##"{"high_level_description": "A red fox in the snow.", "style_description": {"aesthetics": "calm", "lighting": "soft morning light", "photo": "35mm lens", "medium": "photograph", "color_palette": ["#C0392B", "#FFFFFF"]}, "compositional_deconstruction": {"background": "a snowy forest", "elements": [{"type": "obj", "bbox": [300, 150, 900, 550], "desc": "a red fox"}]}}"##;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn adapter(name: &str, strength: f32, target: AdapterTarget) -> AdapterUse {
    AdapterUse {
        path: fixtures().join("lora").join(name),
        strength,
        target,
    }
}

fn load(defer: bool) -> Pipeline {
    Pipeline::load(
        &ModelSource::Dir(fixtures().join("tiny-ideogram4-nf4")),
        LoadOptions {
            defer_unconditional: defer,
            ..LoadOptions::default()
        },
    )
    .unwrap()
}

fn job(sampler: SamplerParams) -> JobSpec {
    JobSpec::new(CAPTION, sampler, ImageSize::new(64, 48), 3)
}

fn custom(loop_order: Vec<f32>) -> SamplerParams {
    SamplerParams::custom(loop_order.len(), 0.5, 1.0, Guidance::Schedule(loop_order)).unwrap()
}

fn run(p: &mut Pipeline, job: &JobSpec) -> Result<Finished, PipelineError> {
    p.run(job, &mut |_| {}, &AtomicBool::new(false))
}

#[test]
fn guidance_one_steps_skip_the_unconditional_forward() {
    let mut p = load(false);
    let (c0, u0) = p.forward_counts();
    // Loop order: steps 2 and 4 executed are guided, 1 and 3 have guidance 1.
    let done = run(&mut p, &job(custom(vec![7.0, 1.0, 5.0, 1.0]))).unwrap();
    let (c1, u1) = p.forward_counts();
    assert_eq!(c1 - c0, 4);
    assert_eq!(u1.unwrap() - u0.unwrap(), 2);
    assert_eq!(done.dit_passes, 6);
    assert_eq!(done.transformers_loaded, 2);
}

#[test]
fn all_guidance_one_never_reads_the_unconditional_dit() {
    let mut p = load(true);
    assert_eq!(p.transformer_loads(), [ComponentKind::Transformer]);
    let done = run(&mut p, &job(custom(vec![1.0; 3]))).unwrap();
    assert_eq!(done.dit_passes, 3);
    assert_eq!(done.transformers_loaded, 1);
    assert!(!p.unconditional_resident());
    assert_eq!(p.transformer_loads(), [ComponentKind::Transformer]);
    // A guided job reads it; the next all-1 job releases it again.
    let done = run(&mut p, &job(custom(vec![3.0, 7.0]))).unwrap();
    assert_eq!((done.dit_passes, done.transformers_loaded), (4, 2));
    assert_eq!(
        p.transformer_loads(),
        [
            ComponentKind::Transformer,
            ComponentKind::UnconditionalTransformer
        ]
    );
    run(&mut p, &job(custom(vec![1.0; 2]))).unwrap();
    assert!(!p.unconditional_resident());
}

#[test]
fn cfg_end_truncates_guidance_and_is_recorded() {
    let mut p = load(true);
    let mut j = job(Preset::Turbo12.into());
    j.cfg_end = Some(0.5);
    let done = run(&mut p, &j).unwrap();
    assert_eq!(done.dit_passes, 6 * 2 + 6);
    assert_eq!(recorded_adapters(&done.record).unwrap().1, Some(0.5));
    j.cfg_end = Some(0.0);
    assert!(run(&mut p, &j).is_err());
}

#[test]
fn turbotime_runs_one_dit_with_its_lora() {
    let mut p = load(true);
    let mut j = job(Preset::TurboTime8.into());
    j.adapters = vec![adapter(
        "lora_peft_r4_alpha8.safetensors",
        1.0,
        AdapterTarget::Cond,
    )];
    let done = run(&mut p, &j).unwrap();
    assert_eq!((done.dit_passes, done.transformers_loaded), (8, 1));
    assert_eq!(p.transformer_loads(), [ComponentKind::Transformer]);

    // Without an adapter the preset looks in the (empty) cache and names the command.
    let empty = std::env::temp_dir().join(format!("ideogram4-empty-hf-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    std::env::set_var("HF_HUB_CACHE", &empty);
    j.adapters.clear();
    let e = run(&mut p, &j).unwrap_err().to_string();
    assert!(
        e.contains("models download ostris/ideogram_4_turbotime_lora"),
        "{e}"
    );
}

#[test]
fn unconditional_pass_lora_never_loads_the_unconditional_dit() {
    let mut p = load(true);
    let mut j = job(custom(vec![3.0, 7.0]));
    j.adapters = vec![adapter(
        "lora_kohya_r2_noalpha.safetensors",
        1.0,
        AdapterTarget::UncondPass,
    )];
    let (c0, _) = p.forward_counts();
    let with = run(&mut p, &j).unwrap();
    assert_eq!(
        p.forward_counts().0 - c0,
        4,
        "both passes on the conditional DiT"
    );
    assert_eq!((with.dit_passes, with.transformers_loaded), (4, 1));
    assert_eq!(p.transformer_loads(), [ComponentKind::Transformer]);
    // The same job with the adapter on the conditional pass differs: the gate matters.
    j.adapters[0].target = AdapterTarget::Cond;
    let cond = run(&mut p, &j).unwrap();
    assert_ne!(with.pixels, cond.pixels);
}

#[test]
fn adapters_change_between_jobs_without_reloading_and_round_trip_in_the_record() {
    let mut p = load(false);
    let base = run(&mut p, &job(custom(vec![3.0, 7.0]))).unwrap();
    let mut j = job(custom(vec![3.0, 7.0]));
    j.adapters = vec![
        adapter("lokr_f4_r2_alpha1.safetensors", 1.0, AdapterTarget::Cond),
        adapter("lora_peft_r4_alpha8.safetensors", 0.5, AdapterTarget::Both),
    ];
    let styled = run(&mut p, &j).unwrap();
    assert_ne!(styled.pixels, base.pixels);
    let again = run(&mut p, &job(custom(vec![3.0, 7.0]))).unwrap();
    assert_eq!(
        again.pixels, base.pixels,
        "detaching restores the base exactly"
    );
    assert_eq!(
        p.transformer_loads().len(),
        2,
        "no transformer was read again"
    );

    let (recorded, _) = recorded_adapters(&styled.record).unwrap();
    assert_eq!(recorded.len(), 2);
    let lokr = fixtures().join("lora/lokr_f4_r2_alpha1.safetensors");
    assert_eq!(recorded[0].file, "lokr_f4_r2_alpha1.safetensors");
    assert_eq!(recorded[0].sha256, sha256::file_digest(&lokr).unwrap());
    assert_eq!(
        (recorded[1].strength, recorded[1].target),
        (0.5, AdapterTarget::Both)
    );
    // Through JSON (what the image embeds) and back to files.
    let value = styled.record.to_value();
    let record: ideogram4::output::GenerationRecord = serde_json::from_value(value).unwrap();
    let (back, _) = recorded_adapters(&record).unwrap();
    assert_eq!(back, recorded);
    let env = HubEnv::from_env();
    let found = locate_recorded(&back[0], &[fixtures().join("lora")], &env).unwrap();
    assert_eq!(found.path, lokr);
    let mut changed = back[0].clone();
    changed.sha256 = "0".repeat(64);
    let e = locate_recorded(&changed, &[fixtures().join("lora")], &env).unwrap_err();
    assert!(e.contains("lokr_f4_r2_alpha1.safetensors"), "{e}");
    // Re-running with the restored adapters reproduces the image.
    j.adapters = back
        .iter()
        .map(|r| locate_recorded(r, &[fixtures().join("lora")], &env).unwrap())
        .collect();
    assert_eq!(run(&mut p, &j).unwrap().pixels, styled.pixels);
}

#[test]
fn an_attached_adapter_is_resident_once_and_leaves_with_its_removal() {
    use ideogram4::mlx::memory;
    let mut p = load(true);
    let turbo = || job(custom(vec![1.0, 1.0]));
    run(&mut p, &turbo()).unwrap();
    memory::clear_cache();
    let before = memory::active();
    // Stored as bf16, attached in the compute dtype: only the cast factors stay.
    let mut j = turbo();
    j.adapters = vec![adapter(
        "lora_kohya_r2_noalpha.safetensors",
        1.0,
        AdapterTarget::Cond,
    )];
    let styled = run(&mut p, &j).unwrap();
    memory::clear_cache();
    let factors = p.adapter_bytes();
    let grown = memory::active() - before;
    assert!(factors > 0);
    let file_bytes = std::fs::metadata(&j.adapters[0].path).unwrap().len() as usize;
    assert!(
        grown < factors + file_bytes / 4,
        "{grown} bytes more after attaching; factors {factors}, file {file_bytes}"
    );
    // A new strength re-attaches from the cache: same image as a fresh pipeline's.
    j.adapters[0].strength = 0.5;
    let half = run(&mut p, &j).unwrap();
    assert_ne!(half.pixels, styled.pixels);
    let mut fresh = load(true);
    assert_eq!(run(&mut fresh, &j).unwrap().pixels, half.pixels);
    drop(fresh);
    // Off the list: its memory goes.
    run(&mut p, &turbo()).unwrap();
    memory::clear_cache();
    assert_eq!(p.adapter_bytes(), 0);
    assert!(
        memory::active() <= before,
        "{} > {before}",
        memory::active()
    );
    assert_eq!(p.transformer_loads().len(), 1, "no transformer read again");
}
