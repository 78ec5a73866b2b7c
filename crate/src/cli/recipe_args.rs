//! The SAM-2 branch's labeled training recipe as command-line flags, shared by `sss train` and
//! `sss pretrain`: which recipe (`simple`, `legacy`, `official`), and the official recipe's
//! prompt mix, corrections, loss resolution, focal settings and objects per clip, turned into a
//! [`Sam2TrainConfig`] by [`RecipeArgs::sam2_training`].

use clap::{Args, ValueEnum};

use crate::train::sam2_loss::Sam2LossConfig;
use crate::train::trainer::{MaskSupervision, PromptMix, Sam2TrainConfig, TrainPoint};

/// The labeled SAM-2 recipe.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipeArg {
    Legacy,
    Simple,
    Official,
}

/// Where a simulated click lands (see `TrainPoint`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainPointArg {
    BoxCentre,
    Interior,
    Uniform,
}

/// Which logits the labeled SAM-2 loss sees.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupervisionArg {
    /// Official loss after object-score gating.
    OfficialGated,
    /// Official loss before gating (default).
    OfficialUngated,
    /// BCE + Dice of the selected mask (the earlier recipe).
    Legacy,
}

fn parse_mix(text: &str) -> Result<PromptMix, String> {
    let v: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [box_and_point, box_only, click] => Ok(PromptMix {
            box_and_point,
            box_only,
            click,
        }),
        _ => Err("three weights: box + point, box alone, click".into()),
    }
}

/// The SAM-2 branch's labeled recipe (`sss train` and `sss pretrain` share it).
#[derive(Args, Debug, Clone)]
pub struct RecipeArgs {
    /// Slices per labeled SAM-2 clip: the prompted one, then the tracked ones (the recipe's
    /// own when not given: `simple` and `legacy` 2, `official` 8). The run's weights track with
    /// the memories of the last N − 2 tracked slices only (what such clips train).
    #[arg(long)]
    pub clip_frames: Option<usize>,
    /// Probability that a labeled clip runs towards lower slice indices (the product
    /// propagates both ways; the recipe's own when not given: `simple` and `legacy` 0,
    /// `official` 0.5).
    #[arg(long)]
    pub reverse_prob: Option<f64>,
    /// Correction rounds on a labeled clip's prompted slice (official 7).
    #[arg(long, default_value_t = 2)]
    pub corrections: usize,
    /// Which logits the labeled SAM-2 loss sees (see `MaskSupervision`).
    #[arg(long, value_enum, default_value_t = SupervisionArg::OfficialUngated)]
    pub mask_supervision: SupervisionArg,
    /// Labeled SAM-2 prompt mix: weights of box + point, box alone, click
    /// (e.g. `0.5,0.25,0.25`).
    #[arg(long, value_parser = parse_mix, default_value = "0.5,0.25,0.25")]
    pub prompt_mix: PromptMix,
    /// SAM-2 losses at the decoder's quarter resolution instead of the image size (the
    /// official recipe's default is the image size).
    #[arg(long, conflicts_with = "full_res_loss")]
    pub low_res_loss: bool,
    /// SAM-2 losses at the image size, the logits upsampled (the legacy recipe's default is
    /// the decoder's quarter resolution).
    #[arg(long)]
    pub full_res_loss: bool,
    /// Focal γ of the SAM-2 mask term (official 2; 0 with --focal-alpha -1 is plain BCE).
    #[arg(long, default_value_t = Sam2LossConfig::OFFICIAL.focal_gamma)]
    pub focal_gamma: f64,
    /// Focal α on foreground pixels (official 0.25; negative turns the weighting off).
    #[arg(
        long,
        default_value_t = Sam2LossConfig::OFFICIAL.focal_alpha,
        allow_negative_numbers = true
    )]
    pub focal_alpha: f64,
    /// Weight of the SAM-2 mask (focal) term (official 20).
    #[arg(long, default_value_t = Sam2LossConfig::OFFICIAL.weight_mask)]
    pub mask_weight: f64,
    /// The labeled SAM-2 recipe: `simple` (the default: two-slice clips, exact box + interior
    /// point, BCE + Dice at the image size), `legacy` (the same with the box centre and the
    /// loss at a quarter resolution: the earlier default) or `official`
    /// (SAM-2's training: the loss and prompt flags above apply only to it). RESULTS.md, "the
    /// fitting check" and "propagation".
    #[arg(long, value_enum, default_value_t = RecipeArg::Simple)]
    pub sam2_recipe: RecipeArg,
    /// Where a simulated click lands in its object: `box-centre` (the legacy recipe's
    /// default), `interior` (the point farthest from the edge, as PCSW prompts at inference)
    /// or `uniform` (the official recipe's default).
    #[arg(long, value_enum)]
    pub train_point: Option<TrainPointArg>,
    /// At most N objects per clip, drawn from those on its first slice (official
    /// `max_num_objects` 3; 0: all, one per class).
    #[arg(long, default_value_t = 0)]
    pub max_objects: usize,
}

impl RecipeArgs {
    /// The recipe these flags ask for.
    pub fn sam2_training(&self) -> Sam2TrainConfig {
        let mut recipe = match self.sam2_recipe {
            RecipeArg::Legacy => Sam2TrainConfig::legacy(),
            RecipeArg::Simple => Sam2TrainConfig::simple(),
            RecipeArg::Official => Sam2TrainConfig {
                correction_rounds: self.corrections,
                supervision: match self.mask_supervision {
                    SupervisionArg::OfficialGated => MaskSupervision::OfficialGated,
                    SupervisionArg::OfficialUngated => MaskSupervision::OfficialUngated,
                    SupervisionArg::Legacy => MaskSupervision::LegacyBceDice,
                },
                prompts: self.prompt_mix,
                full_resolution_loss: !self.low_res_loss,
                loss: Sam2LossConfig {
                    focal_gamma: self.focal_gamma,
                    focal_alpha: self.focal_alpha,
                    weight_mask: self.mask_weight,
                    ..Sam2LossConfig::default()
                },
                ..Sam2TrainConfig::official()
            },
        };
        recipe.max_objects = self.max_objects;
        if let Some(frames) = self.clip_frames {
            recipe.clip_frames = frames;
        }
        if let Some(p) = self.reverse_prob {
            recipe.reverse_prob = p;
        }
        if self.full_res_loss {
            recipe.full_resolution_loss = true;
        }
        if let Some(point) = self.train_point {
            recipe.point = match point {
                TrainPointArg::BoxCentre => TrainPoint::BoxCentre,
                TrainPointArg::Interior => TrainPoint::Interior,
                TrainPointArg::Uniform => TrainPoint::Uniform,
            };
        }
        recipe
    }
}
