//! The `pipeline_e2e` case: a whole job through [`Pipeline`] against the reference's
//! intermediates (prompt ids, text features, every sampler step, latent, image).

use std::sync::atomic::AtomicBool;

use serde_json::Value;

use super::{compare_f32, compare_ids, Comparison, Result, Runner, Tolerance};
use crate::mlx::{self, Array};
use crate::model::dit::QueryChunking;
use crate::pipeline::{JobSpec, LoadOptions, Pipeline, Trace};
use crate::sampler::{Guidance, ImageSize, LogitNormalSchedule, SamplerParams, Schedule};

impl Runner<'_> {
    pub(super) fn pipeline_e2e(&self, emit: &mut dyn FnMut(Comparison)) -> Result<()> {
        let g = self.golden;
        let prompt = g
            .value("/prompt")?
            .as_str()
            .ok_or_else(|| g.err("prompt is not a string"))?
            .to_string();
        let size = ImageSize::new(g.usize_at("/width")? as u32, g.usize_at("/height")? as u32);
        let guidance = g.f32_list("/schedule/guidance_schedule_loop_index_order")?;
        let mean = g.f64_at("/schedule/schedule_mean")?;
        let std = g.f64_at("/schedule/schedule_std")?;
        // The golden's schedule as the reference built it (mean already resolution-adjusted
        // or passed explicitly), so explicit-schedule runs are reproduced too.
        let schedule = Schedule::new(LogitNormalSchedule::new(mean, std), &guidance);
        let sampler = SamplerParams::custom(
            guidance.len(),
            mean,
            std,
            Guidance::Schedule(guidance.clone()),
        )?;
        let floor =
            |key: &str| -> Result<f64> { g.f64_at(&format!("/observed/fp64_vs_fp32/{key}")) };
        let traj_floor: Vec<f64> = g
            .value("/observed/fp64_vs_fp32/z_traj_max_abs_diff_per_step")?
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        let z_final_floor = floor("z_final_max_abs_diff")?;
        let trajectory = g.get("z_trajectory")?;
        let steps = guidance.len();

        for (flavour, repo) in g.folders("repos")? {
            let Some(ckpt) = self.checkpoint(&repo)? else {
                continue;
            };
            let case = self.case(&flavour);
            let mut pipeline = Pipeline::from_checkpoint(
                ckpt,
                repo.clone(),
                LoadOptions {
                    compute: Some(self.options.compute),
                    keep_text_encoder: false,
                    chunking: QueryChunking::Whole,
                    defer_unconditional: false,
                },
            )?;
            let job = JobSpec {
                caption: prompt.clone(),
                sampler: sampler.clone(),
                size,
                seed: 0,
                init_noise: Some(g.f32s("z0")?),
                allow_caption_warnings: false,
                cfg_end: None,
                adapters: Vec::new(),
            };
            let mut ids = Vec::new();
            let mut features = Vec::new();
            let mut z_in = Vec::new();
            let mut v_cond = Vec::new();
            let mut v_uncond = Vec::new();
            let mut z_last = Vec::new();
            let mut decoded = Vec::new();
            let mut failure: Option<mlx::Error> = None;
            let keep =
                |a: &Array, into: &mut Vec<Vec<f32>>, failure: &mut Option<mlx::Error>| match a
                    .to_f32_vec()
                {
                    Ok(v) => into.push(v),
                    Err(e) => *failure = Some(e),
                };
            let finished = pipeline.run_traced(
                &job,
                Some(schedule.clone()),
                &mut |_| {},
                &AtomicBool::new(false),
                &mut |t| match t {
                    Trace::TokenIds(i) => ids = i.to_vec(),
                    Trace::TextFeatures(f) => keep(f, &mut features, &mut failure),
                    Trace::Step(r) => {
                        keep(r.z_in, &mut z_in, &mut failure);
                        keep(r.v_cond, &mut v_cond, &mut failure);
                        if let Some(v) = r.v_uncond {
                            keep(v, &mut v_uncond, &mut failure);
                        }
                        z_last.clear();
                        keep(r.z_out, &mut z_last, &mut failure);
                    }
                    Trace::DecoderOutput(d) => {
                        let nchw = d.transpose(&[0, 3, 1, 2]).and_then(|x| x.to_f32_vec());
                        match nchw {
                            Ok(v) => decoded = v,
                            Err(e) => failure = Some(e),
                        }
                    }
                },
            )?;
            if let Some(e) = failure {
                return Err(e.into());
            }

            let want_ids = g.i64s("token_ids")?;
            let text_len = ids.len().min(want_ids.len());
            emit(compare_ids(&case, "token_ids", &ids, &want_ids[..text_len]));
            let want_features = g.get("llm_features")?.slice_axis(1, 0, text_len)?;
            emit(compare_f32(
                &case,
                "llm_features",
                features.first().map_or(&[][..], Vec::as_slice),
                &want_features.to_f32_vec()?,
                Tolerance::from_noise_floor(floor("llm_features_max_abs_diff")?),
            ));
            let v_tol = Tolerance::from_noise_floor(z_final_floor);
            for k in 0..=steps {
                let want = trajectory.slice_axis(0, k, k + 1)?.to_f32_vec()?;
                let got = if k < steps {
                    z_in.get(k)
                } else {
                    z_last.first()
                };
                emit(compare_f32(
                    &case,
                    &format!("z_trajectory[{k}]"),
                    got.map_or(&[][..], Vec::as_slice),
                    &want,
                    Tolerance::from_noise_floor(
                        traj_floor.get(k).copied().unwrap_or(z_final_floor),
                    ),
                ));
            }
            for (name, ours) in [("v_cond", &v_cond), ("v_uncond", &v_uncond)] {
                let want_all = g.get(name)?;
                for k in 0..steps {
                    let want = want_all.slice_axis(0, k, k + 1)?.to_f32_vec()?;
                    emit(compare_f32(
                        &case,
                        &format!("{name}[{k}]"),
                        ours.get(k).map_or(&[][..], Vec::as_slice),
                        &want,
                        v_tol,
                    ));
                }
            }
            emit(g.against(
                &case,
                "z_final",
                z_last.first().map_or(&[][..], Vec::as_slice),
                Tolerance::from_noise_floor(z_final_floor),
            )?);
            emit(g.against(
                &case,
                "decoder_output",
                &decoded,
                Tolerance::from_noise_floor(floor("decoder_output_max_abs_diff")?),
            )?);
            let pixels: Vec<f32> = finished.pixels.iter().map(|&p| f32::from(p)).collect();
            emit(g.against(&case, "image_uint8", &pixels, Tolerance::ONE_LEVEL)?);
        }
        Ok(())
    }
}
