//! SAM-2's inference stages timed the same way natively (`sss bench`) and in the page (the
//! worker's `benchStages`, run by `scripts/bench-page.sh`), so the two can be compared stage by
//! stage: the image encoder, the prompt encoder + mask decoder (one click, multimask), and one
//! propagation step from a full memory bank (memory attention + heads + memory encoder on
//! cached features), the three costs of a slice in the page.
//!
//! Each stage's first run is timed on its own (on WebGPU it includes compiling the stage's
//! pipelines), then `warmup` runs are left untimed and the median of `iters` runs is reported.
//! A run ends when the caller's `read` of a small tensor computed from the stage's output
//! resolves: synchronous natively, an awaited read-back in the browser, where nothing may block.
//! The clock is the caller's too (`Instant` natively, `performance.now()` in the browser).

use std::future::Future;

use burn::tensor::{Device, Distribution, Int, Tensor};
use serde::Serialize;

use crate::Result;
use crate::model::mask_decoder::MaskDecoderInput;
use crate::model::prompt_encoder::PointPrompt;
use crate::model::sam2_base::{BackboneFeatures, MemoryBank, TrackStepInput};
use crate::model::{Sam2Base, Sam2Config};

/// One stage's timings, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StageTiming {
    /// The stage's first run on a fresh model.
    pub first_ms: f64,
    /// The median of the timed runs after the first and the warm-up.
    pub median_ms: f64,
}

/// The three stages of one config.
#[derive(Debug, Clone, Serialize)]
pub struct Sam2StageTimings {
    pub config: String,
    pub image_size: usize,
    /// Timed runs per stage (the median's sample).
    pub iters: usize,
    /// Untimed runs per stage between the first and the timed ones.
    pub warmup: usize,
    /// Memories in the bank of the propagation step (the config's `num_maskmem`).
    pub memory_frames: usize,
    pub image_encoder: StageTiming,
    pub prompt_and_decoder: StageTiming,
    pub propagation_step: StageTiming,
}

/// A stage of [`StageBench`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    ImageEncoder,
    PromptAndDecoder,
    PropagationStep,
}

/// A randomly initialised SAM-2 with the inputs of each stage made once: the image's features,
/// a click at (S/2, S/3), and a memory bank holding the prompted slice and `num_maskmem - 1`
/// tracked ones. Timings depend on the config and the device, not on the weights' values.
pub struct StageBench {
    cfg: Sam2Config,
    model: Sam2Base,
    image: Tensor<4>,
    features: BackboneFeatures,
    embedding: Tensor<4>,
    click: PointPrompt,
    bank: MemoryBank,
}

impl StageBench {
    /// Builds the model and the stages' inputs on `device` (no read-back).
    pub fn new(cfg: &Sam2Config, device: &Device) -> Result<Self> {
        let model = Sam2Base::new(cfg, device)?;
        let s = cfg.image_size;
        let image = Tensor::<4>::random([1, 3, s, s], Distribution::Normal(0.0, 1.0), device);
        let features = model.forward_image(image.clone());
        let embedding = model.image_embedding_without_memory(&features);
        let click = PointPrompt {
            coords: Tensor::from_data([[[s as f32 / 2.0, s as f32 / 3.0]]], device),
            labels: Tensor::<2, Int>::ones([1, 1], device),
        };
        let mut bench = StageBench {
            cfg: cfg.clone(),
            model,
            image,
            features,
            embedding,
            click,
            bank: MemoryBank::default(),
        };
        let prompted = bench.track(0, true)?;
        bench.bank.cond_frame_outputs.insert(0, prompted);
        for z in 1..cfg.num_maskmem {
            let tracked = bench.track(z, false)?;
            bench.bank.non_cond_frame_outputs.insert(z, tracked);
        }
        Ok(bench)
    }

    fn track(
        &self,
        frame_idx: usize,
        is_init: bool,
    ) -> Result<crate::model::sam2_base::FrameOutput> {
        self.model.track_step(
            TrackStepInput {
                frame_idx,
                is_init_cond_frame: is_init,
                features: &self.features,
                point_inputs: is_init.then_some(&self.click),
                mask_inputs: None,
                num_frames: self.cfg.num_maskmem + 2,
                track_in_reverse: false,
                run_mem_encoder: true,
                prev_sam_mask_logits: None,
            },
            &self.bank,
        )
    }

    /// Queues one run of `stage` and returns the sum of its output, whose read ends the run.
    pub fn run(&self, stage: Stage) -> Result<Tensor<1>> {
        Ok(match stage {
            Stage::ImageEncoder => self
                .model
                .forward_image(self.image.clone())
                .top()
                .clone()
                .sum(),
            Stage::PromptAndDecoder => {
                let pe = &self.model.sam_prompt_encoder;
                let (sparse, dense) = pe.forward(Some(&self.click), None, None);
                let out = self.model.sam_mask_decoder.forward(MaskDecoderInput {
                    image_embeddings: self.embedding.clone(),
                    image_pe: pe.get_dense_pe(),
                    sparse_prompt_embeddings: sparse,
                    dense_prompt_embeddings: dense,
                    multimask_output: true,
                    repeat_image: false,
                    high_res_features: self.features.high_res(),
                });
                out.masks.sum()
            }
            Stage::PropagationStep => self.track(self.cfg.num_maskmem, false)?.pred_masks.sum(),
        })
    }

    /// Times the three stages: each one's first run, `warmup` untimed runs, then the median of
    /// `iters` (at least one). `clock` gives milliseconds; `read` reads a stage's output back.
    pub async fn time<R, F>(
        &self,
        iters: usize,
        warmup: usize,
        clock: &dyn Fn() -> f64,
        read: R,
    ) -> Result<Sam2StageTimings>
    where
        R: Fn(Tensor<1>) -> F,
        F: Future<Output = Result<()>>,
    {
        let mut timings = Vec::with_capacity(3);
        for stage in [
            Stage::ImageEncoder,
            Stage::PromptAndDecoder,
            Stage::PropagationStep,
        ] {
            let mut times = Vec::with_capacity(iters.max(1));
            let mut first_ms = 0.0;
            for run in 0..1 + warmup + iters.max(1) {
                let started = clock();
                read(self.run(stage)?).await?;
                let ms = clock() - started;
                if run == 0 {
                    first_ms = ms;
                } else if run > warmup {
                    times.push(ms);
                }
            }
            times.sort_by(f64::total_cmp);
            timings.push(StageTiming {
                first_ms,
                median_ms: times[times.len() / 2],
            });
        }
        Ok(Sam2StageTimings {
            config: self.cfg.name.clone(),
            image_size: self.cfg.image_size,
            iters: iters.max(1),
            warmup,
            memory_frames: self.cfg.num_maskmem,
            image_encoder: timings[0],
            prompt_and_decoder: timings[1],
            propagation_step: timings[2],
        })
    }
}

/// The output of a future that is ready when first polled (one whose awaits all resolve at
/// once, as [`StageBench::time`] with a synchronous `read`); `None` if it would wait.
pub fn ready_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timings come from the stages' runs: a clock that advances 1 ms per reading makes
    /// every run last exactly 1 ms, and each stage is run 1 + warmup + iters times.
    #[test]
    fn times_each_stage_first_warm_and_median() {
        let device = Device::flex();
        let cfg = Sam2Config::micro();
        let bench = StageBench::new(&cfg, &device).unwrap();
        let ticks = std::cell::Cell::new(0.0);
        let reads = std::cell::Cell::new(0);
        let clock = || {
            ticks.set(ticks.get() + 1.0);
            ticks.get()
        };
        let read = |t: Tensor<1>| {
            reads.set(reads.get() + 1);
            let value = t.into_scalar::<f32>();
            std::future::ready(if value.is_finite() {
                Ok(())
            } else {
                Err(crate::SssError::InvalidInput("not finite".into()))
            })
        };
        let timings = ready_now(bench.time(3, 2, &clock, read)).unwrap().unwrap();
        assert_eq!(reads.get(), 3 * (1 + 2 + 3));
        for stage in [
            timings.image_encoder,
            timings.prompt_and_decoder,
            timings.propagation_step,
        ] {
            assert_eq!((stage.first_ms, stage.median_ms), (1.0, 1.0));
        }
        assert_eq!((timings.iters, timings.warmup), (3, 2));
        assert_eq!(timings.memory_frames, cfg.num_maskmem);
        assert_eq!(timings.config, cfg.name);
    }

    #[test]
    fn ready_now_says_when_a_future_would_wait() {
        assert_eq!(ready_now(async { 7 }), Some(7));
        assert_eq!(ready_now(std::future::pending::<()>()), None);
    }
}
