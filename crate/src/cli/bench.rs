//! `sss bench`: per-slice timings of SAM-2 on the flex CPU backend — the image encoder, the
//! prompt encoder + mask decoder (one click, multimask), and one propagation step with a full
//! memory bank (memory attention + heads + memory encoder on cached features) — as medians
//! after warm-up, printed as a table and as JSON.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor};
use serde::Serialize;

use crate::model::prompt_encoder::PointPrompt;
use crate::model::sam2_base::{MemoryBank, TrackStepInput};
use crate::model::{Sam2Base, Sam2Config};

/// Arguments of `sss bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Comma-separated configs to time.
    #[arg(long, default_value = "micro,tiny", value_delimiter = ',')]
    pub configs: Vec<String>,
    /// Timed runs per stage (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Untimed warm-up runs per stage.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Run burn's reference GELU and attention instead of the fast flex kernels
    /// (`model::kernels`), to measure what they bring.
    #[arg(long)]
    pub reference_kernels: bool,
}

/// Median timings of one config, in milliseconds.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub config: String,
    pub image_size: usize,
    pub backend: &'static str,
    pub iters: usize,
    pub image_encoder_ms: f64,
    pub prompt_and_decoder_ms: f64,
    pub propagation_step_ms: f64,
    pub memory_frames: usize,
    /// Whether the fast flex kernels ran (`--reference-kernels` turns them off).
    pub fast_kernels: bool,
}

/// Forces the computation of `t` by reading back its sum.
fn sync<const D: usize>(t: Tensor<D>) {
    let _ = t.sum().into_scalar::<f32>();
}

fn median_ms(iters: usize, warmup: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..iters.max(1))
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn bench_config(name: &str, iters: usize, warmup: usize) -> anyhow::Result<BenchResult> {
    let device = Device::flex();
    let cfg = Sam2Config::by_name(name)?;
    let model = Sam2Base::new(&cfg, &device)?;
    let s = cfg.image_size;
    let image = Tensor::<4>::random([1, 3, s, s], Distribution::Normal(0.0, 1.0), &device);

    let image_encoder_ms = median_ms(iters, warmup, || {
        let f = model.forward_image(image.clone());
        sync(f.top().clone());
    });

    let features = model.forward_image(image);
    let embed = model.image_embedding_without_memory(&features);
    let points = PointPrompt {
        coords: Tensor::from_data([[[s as f32 / 2.0, s as f32 / 3.0]]], &device),
        labels: Tensor::<2, Int>::ones([1, 1], &device),
    };
    let prompt_and_decoder_ms = median_ms(iters, warmup, || {
        let pe = &model.sam_prompt_encoder;
        let (sparse, dense) = pe.forward(Some(&points), None, None);
        let out = model.sam_mask_decoder.forward(
            embed.clone(),
            pe.get_dense_pe(),
            sparse,
            dense,
            true,
            false,
            features.high_res(),
        );
        sync(out.masks);
    });

    // A full memory bank: the prompted slice plus num_maskmem - 1 tracked slices.
    let step = |bank: &MemoryBank, frame_idx: usize, is_init: bool| {
        model.track_step(
            TrackStepInput {
                frame_idx,
                is_init_cond_frame: is_init,
                features: &features,
                point_inputs: is_init.then_some(&points),
                mask_inputs: None,
                num_frames: cfg.num_maskmem + 2,
                track_in_reverse: false,
                run_mem_encoder: true,
                prev_sam_mask_logits: None,
            },
            bank,
        )
    };
    let mut bank = MemoryBank::default();
    bank.cond_frame_outputs.insert(0, step(&bank, 0, true)?);
    for z in 1..cfg.num_maskmem {
        let out = step(&bank, z, false)?;
        bank.non_cond_frame_outputs.insert(z, out);
    }
    let next = cfg.num_maskmem;
    let mut failure = None;
    let propagation_step_ms = median_ms(iters, warmup, || match step(&bank, next, false) {
        Ok(out) => sync(out.pred_masks),
        Err(e) => failure = Some(e),
    });
    if let Some(e) = failure {
        return Err(e.into());
    }
    Ok(BenchResult {
        config: name.to_string(),
        image_size: s,
        backend: "flex (CPU)",
        iters,
        image_encoder_ms,
        prompt_and_decoder_ms,
        propagation_step_ms,
        memory_frames: cfg.num_maskmem,
        fast_kernels: crate::model::kernels::fast_kernels(),
    })
}

pub fn run(args: Args) -> anyhow::Result<()> {
    crate::model::kernels::set_fast_kernels(!args.reference_kernels);
    let mut results = Vec::new();
    for name in &args.configs {
        log::info!(
            "timing `{name}` ({} runs after {} warm-up)",
            args.iters,
            args.warmup
        );
        results.push(bench_config(name, args.iters, args.warmup)?);
    }
    println!(
        "{:<10} {:>6} {:>18} {:>22} {:>22}",
        "config", "size", "image encoder ms", "prompt+decoder ms", "propagation step ms"
    );
    for r in &results {
        println!(
            "{:<10} {:>6} {:>18.2} {:>22.2} {:>22.2}",
            r.config,
            r.image_size,
            r.image_encoder_ms,
            r.prompt_and_decoder_ms,
            r.propagation_step_ms
        );
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}
