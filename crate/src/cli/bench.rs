//! `sss bench`: per-slice timings of SAM-2 on the flex CPU backend — the image encoder, the
//! prompt encoder + mask decoder (one click, multimask), and one propagation step with a full
//! memory bank (memory attention + heads + memory encoder on cached features) — as medians
//! after warm-up, printed as a table and as JSON. `--ops` times the single operations the fast
//! flex kernels replace (`model::kernels`), at Hiera-tiny's shapes, with and without them.
//! `--train` times one SAM-2 training step instead (`bench_train`). `--device wgpu` runs the
//! stages or the training step on the wgpu backend.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Int, Tensor};
use serde::Serialize;

use super::bench_train;
use crate::backend::ComputeDevice;
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
    /// Time single operations (GELU, linear, attention) at Hiera-tiny's shapes with the fast
    /// kernels and with burn's reference operations, instead of the model stages.
    #[arg(long)]
    pub ops: bool,
    /// Time one SAM-2 training step (two-slice clip, forward, backward, AdamW) for each of
    /// --train-configs instead of the inference stages.
    #[arg(long)]
    pub train: bool,
    /// The configs of --train, as `config@image-size`.
    #[arg(
        long,
        default_value = "micro@128,tiny@512,tiny@1024",
        value_delimiter = ','
    )]
    pub train_configs: Vec<String>,
    /// The device: flex (CPU) or wgpu (Vulkan, Metal, DX12).
    #[arg(long, value_enum, default_value_t = super::train::DeviceArg::Flex)]
    pub device: super::train::DeviceArg,
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

fn bench_config(
    name: &str,
    compute: &ComputeDevice,
    iters: usize,
    warmup: usize,
) -> anyhow::Result<BenchResult> {
    let device = compute.device.clone();
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
        let out = model
            .sam_mask_decoder
            .forward(crate::model::mask_decoder::MaskDecoderInput {
                image_embeddings: embed.clone(),
                image_pe: pe.get_dense_pe(),
                sparse_prompt_embeddings: sparse,
                dense_prompt_embeddings: dense,
                multimask_output: true,
                repeat_image: false,
                high_res_features: features.high_res(),
            });
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
        backend: compute.kind.name(),
        iters,
        image_encoder_ms,
        prompt_and_decoder_ms,
        propagation_step_ms,
        memory_frames: cfg.num_maskmem,
        fast_kernels: crate::model::kernels::fast_kernels(),
    })
}

/// One operation timed both ways.
#[derive(Debug, Serialize)]
pub struct OpResult {
    pub op: String,
    pub fast_ms: f64,
    pub reference_ms: f64,
}

/// The operations of `--ops`: each gets fresh inputs once and is timed with the fast kernels on
/// and off, alternately in the same run.
fn bench_ops(iters: usize, warmup: usize) -> Vec<OpResult> {
    use crate::model::kernels;
    let device = Device::flex();
    let normal = Distribution::Normal(0.0, 1.0);
    let random = |dims: [usize; 4]| Tensor::<4>::random(dims, normal, &device);
    let mut results = Vec::new();
    let mut time = |op: String, f: &dyn Fn() -> Tensor<4>| {
        let run = |fast: bool| {
            kernels::set_fast_kernels(fast);
            median_ms(iters, warmup, || sync(f()))
        };
        let (fast_ms, reference_ms) = (run(true), run(false));
        results.push(OpResult {
            op,
            fast_ms,
            reference_ms,
        });
    };
    let hidden = random([1, 256, 256, 384]);
    time(
        "GELU, stage-1 MLP hidden [1, 256, 256, 384]".into(),
        &|| kernels::gelu(hidden.clone()),
    );
    let x = random([1, 256, 256, 96]);
    let qkv = burn::nn::LinearConfig::new(96, 288).init(&device);
    time(
        "linear 96 → 288 on [1, 256, 256, 96] (stage-1 qkv)".into(),
        &|| kernels::linear(&qkv, x.clone()),
    );
    for (name, q_dims, k_dims) in [
        (
            "attention, stage-1 windows",
            [1024, 1, 64, 96],
            [1024, 1, 64, 96],
        ),
        (
            "attention, stage-3 global",
            [1, 4, 4096, 96],
            [1, 4, 4096, 96],
        ),
        (
            "attention, memory cross-attention",
            [1, 1, 4096, 256],
            [1, 1, 28_736, 256],
        ),
    ] {
        let (q, k, v) = (random(q_dims), random(k_dims), random(k_dims));
        time(format!("{name} q {q_dims:?} k {k_dims:?}"), &|| {
            kernels::attention(q.clone(), k.clone(), v.clone())
        });
    }
    kernels::set_fast_kernels(true);
    results
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.ops {
        let results = bench_ops(args.iters, args.warmup);
        println!(
            "{:<75} {:>10} {:>14}",
            "operation", "fast ms", "reference ms"
        );
        for r in &results {
            println!("{:<75} {:>10.1} {:>14.1}", r.op, r.fast_ms, r.reference_ms);
        }
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    crate::model::kernels::set_fast_kernels(!args.reference_kernels);
    let device = args.device.open()?;
    if args.train {
        return run_train(&args, &device);
    }
    let mut results = Vec::new();
    for name in &args.configs {
        log::info!(
            "timing `{name}` on {} ({} runs after {} warm-up)",
            device.kind.name(),
            args.iters,
            args.warmup
        );
        results.push(bench_config(name, &device, args.iters, args.warmup)?);
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

/// `--train`: one line per config, then the JSON.
fn run_train(args: &Args, device: &ComputeDevice) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for spec in &args.train_configs {
        log::info!(
            "timing a training step of `{spec}` on {} ({} runs after {} warm-up)",
            device.kind.name(),
            args.iters,
            args.warmup
        );
        results.push(bench_train::bench_train_step(
            spec,
            device,
            args.iters,
            args.warmup,
        )?);
    }
    println!(
        "{:<10} {:>6} {:>14} {:>14} {:>10}",
        "config", "size", "backend", "step ms", "slices/s"
    );
    for r in &results {
        println!(
            "{:<10} {:>6} {:>14} {:>14.1} {:>10.2}",
            r.config, r.image_size, r.backend, r.step_ms, r.slices_per_s
        );
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}
