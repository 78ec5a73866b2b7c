//! `sss bench`: per-slice timings of SAM-2 on the flex CPU backend — the image encoder, the
//! prompt encoder + mask decoder (one click, multimask), and one propagation step with a full
//! memory bank (memory attention + heads + memory encoder on cached features) — as medians
//! after warm-up, with each stage's first run, printed as a table and as JSON
//! (`stage_timing`, which the page's benchmark shares). `--ops` times the single operations the fast
//! flex kernels replace (`model::kernels`), at Hiera-tiny's shapes, with and without them.
//! `--train` times one SAM-2 training step instead (`bench_train`). `--device wgpu` runs the
//! stages or the training step on the wgpu backend.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use serde::Serialize;

use super::bench_train;
use crate::backend::ComputeDevice;
use crate::model::Sam2Config;
use crate::stage_timing::{StageBench, ready_now};
use crate::weights::{Manifest, ModelSpec};

/// Arguments of `sss bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Comma-separated configs to time.
    #[arg(long, default_value = "micro,tiny", value_delimiter = ',')]
    pub configs: Vec<String>,
    /// Time the SAM-2 config of this SSS weights manifest instead of --configs (the page's
    /// model, for `scripts/bench-page.sh`).
    #[arg(long, value_name = "MANIFEST")]
    pub manifest: Option<std::path::PathBuf>,
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
    #[arg(long, value_enum, default_value_t = super::DeviceArg::Flex)]
    pub device: super::DeviceArg,
}

/// Median timings of one config, in milliseconds (`stage_timing`), with each stage's first run.
#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub config: String,
    pub image_size: usize,
    pub backend: &'static str,
    pub iters: usize,
    pub image_encoder_ms: f64,
    pub prompt_and_decoder_ms: f64,
    pub propagation_step_ms: f64,
    pub image_encoder_first_ms: f64,
    pub prompt_and_decoder_first_ms: f64,
    pub propagation_step_first_ms: f64,
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
    cfg: &Sam2Config,
    compute: &ComputeDevice,
    iters: usize,
    warmup: usize,
) -> anyhow::Result<BenchResult> {
    let bench = StageBench::new(cfg, &compute.device)?;
    let started = Instant::now();
    let clock = || started.elapsed().as_secs_f64() * 1e3;
    let read = |t: Tensor<1>| {
        let _ = t.into_scalar::<f32>();
        std::future::ready(Ok(()))
    };
    let t = ready_now(bench.time(iters, warmup, &clock, read))
        .expect("a synchronous read never waits")?;
    Ok(BenchResult {
        config: t.config,
        image_size: t.image_size,
        backend: compute.kind.name(),
        iters: t.iters,
        image_encoder_ms: t.image_encoder.median_ms,
        prompt_and_decoder_ms: t.prompt_and_decoder.median_ms,
        propagation_step_ms: t.propagation_step.median_ms,
        image_encoder_first_ms: t.image_encoder.first_ms,
        prompt_and_decoder_first_ms: t.prompt_and_decoder.first_ms,
        propagation_step_first_ms: t.propagation_step.first_ms,
        memory_frames: t.memory_frames,
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
    let configs = match &args.manifest {
        Some(path) => vec![manifest_config(path)?],
        None => (args.configs.iter())
            .map(|name| Sam2Config::by_name(name))
            .collect::<crate::Result<Vec<_>>>()?,
    };
    let mut results = Vec::new();
    for cfg in &configs {
        log::info!(
            "timing `{}` on {} (first run, {} warm-up, {} timed runs)",
            cfg.name,
            device.kind.name(),
            args.warmup,
            args.iters
        );
        results.push(bench_config(cfg, &device, args.iters, args.warmup)?);
    }
    println!(
        "{:<10} {:>6} {:>24} {:>24} {:>24}",
        "config", "size", "image encoder ms", "prompt+decoder ms", "propagation step ms"
    );
    let cell = |median: f64, first: f64| format!("{median:.2} (first {first:.1})");
    for r in &results {
        println!(
            "{:<10} {:>6} {:>24} {:>24} {:>24}",
            r.config,
            r.image_size,
            cell(r.image_encoder_ms, r.image_encoder_first_ms),
            cell(r.prompt_and_decoder_ms, r.prompt_and_decoder_first_ms),
            cell(r.propagation_step_ms, r.propagation_step_first_ms)
        );
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    Ok(())
}

/// The SAM-2 config of an SSS weights manifest.
fn manifest_config(path: &std::path::Path) -> anyhow::Result<Sam2Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    match Manifest::from_json(&text)?.model {
        ModelSpec::Sss { sam2, .. } => Ok(sam2),
        ModelSpec::SliceNet { .. } => anyhow::bail!(
            "{} describes a slice network, which has no SAM-2 stages to time",
            path.display()
        ),
    }
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
