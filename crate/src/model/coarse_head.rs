//! The coarse head of SSS: the PCSW mask head (`models/pcsw.py` of the released code,
//! `docs/sss-method.md` §4.2 (a)) on FPN level 0 — `Conv3×3 → norm → ReLU → Conv1×1` to the
//! classes, background included. Its softmax over a whole volume is what PCSW reads.
//!
//! Deviation (`docs/DESIGN.md` §3): the released code never trains this head; here it is trained
//! (labeled CE+Dice, unlabeled from the teacher's pseudo-labels). The released BatchNorm is
//! replaced by GroupNorm: training batches are two slices, and batch statistics of two
//! slices (plus an EMA copy of running statistics) would make teacher and student disagree.
//!
//! Switch (`CoarseHeadConfig::top_down`, off by default): SAM-2's neck fuses top-down only
//! into levels 2 and 3 (`fpn_top_down_levels`), so level 0 is one lateral 1×1 conv of Hiera's
//! first stage, whose attention is windowed (8 × 8 tokens: 32 × 32 pixels at stride 4). The
//! head then sees nothing beyond a 32-pixel window: enough to tell a blood pool from muscle,
//! not a lens-shaped epidural bleed from a crescent subdural one. With `top_down` the head
//! reads level 0 plus level 2 (stride 16, after Hiera's global attention) brought to level 0's
//! size by nearest upsampling, the sum the neck's own top-down path would make if it reached
//! level 0. SAM-2's features are unchanged; no parameter is added.
//!
//! Switch (`CoarseHeadConfig::depth`, 1 by default: the released head): `depth − 1` more
//! `Conv3×3 → norm → ReLU` blocks of the hidden width before the classifier, for a head that can
//! learn a rule over more than a 3 × 3 neighbourhood of features (RESULTS.md, "The coarse
//! head's wider view with every scan labeled": the released head fits only a quarter of 144
//! brain scans' bleed types).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// Sizes of the coarse head (a plain serde struct, as every configuration in the crate:
/// `docs/DESIGN.md`, "Configuration"). It is written into the weights' manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoarseHeadConfig {
    /// Channels of FPN level 0 (the SAM-2 neck's `d_model`).
    pub in_channels: usize,
    /// Output classes, background included.
    pub num_classes: usize,
    /// Hidden channels (64 as released).
    #[serde(default = "CoarseHeadConfig::default_hidden")]
    pub hidden: usize,
    /// GroupNorm groups (must divide `hidden`).
    #[serde(default = "CoarseHeadConfig::default_groups")]
    pub groups: usize,
    /// `Some(true)`: add FPN level 2, upsampled, to level 0 before the head (see the module
    /// docs). Optional so that manifests written before the switch (without it) still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_down: Option<bool>,
    /// `Some(n)`, n ≥ 2: n `Conv3×3 → norm → ReLU` blocks before the classifier instead of the
    /// released one (see the module docs). `None` is 1; manifests without it still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
}

/// One `Conv3×3 → norm → ReLU` block of the hidden width (the deeper head's).
#[derive(Module, Debug)]
pub struct CoarseBlock {
    pub conv: Conv2d,
    pub norm: GroupNorm,
}

impl CoarseBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.norm.forward(self.conv.forward(x)))
    }
}

/// `Conv3×3 → GroupNorm → ReLU → Conv1×1`.
#[derive(Module, Debug)]
pub struct CoarseHead {
    pub conv: Conv2d,
    pub norm: GroupNorm,
    pub classifier: Conv2d,
    /// The blocks after the first ([`CoarseHeadConfig::depth`] − 1; none as released).
    pub blocks: Vec<CoarseBlock>,
    /// [`CoarseHeadConfig::top_down`].
    #[module(skip)]
    pub top_down: bool,
}

impl CoarseHeadConfig {
    /// The released head's sizes on `in_channels` features, for `num_classes` classes.
    pub fn new(in_channels: usize, num_classes: usize) -> Self {
        Self {
            in_channels,
            num_classes,
            hidden: Self::default_hidden(),
            groups: Self::default_groups(),
            top_down: None,
            depth: None,
        }
    }

    fn default_hidden() -> usize {
        64
    }

    fn default_groups() -> usize {
        8
    }

    /// Builds the head; fails on zero sizes or groups that do not divide the hidden width.
    pub fn init(&self, device: &Device) -> crate::Result<CoarseHead> {
        if self.in_channels == 0
            || self.num_classes < 2
            || self.hidden == 0
            || self.groups == 0
            || !self.hidden.is_multiple_of(self.groups)
            || self.depth == Some(0)
        {
            return Err(crate::SssError::InvalidInput(format!(
                "coarse head: in {} / classes {} / hidden {} / groups {} / depth {:?} (need ≥ 2 \
                 classes, groups dividing hidden and a depth of at least 1)",
                self.in_channels, self.num_classes, self.hidden, self.groups, self.depth
            )));
        }
        let conv3 = |c_in: usize| {
            Conv2dConfig::new([c_in, self.hidden], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device)
        };
        Ok(CoarseHead {
            conv: conv3(self.in_channels),
            norm: GroupNormConfig::new(self.groups, self.hidden).init(device),
            classifier: Conv2dConfig::new([self.hidden, self.num_classes], [1, 1]).init(device),
            blocks: (1..self.depth.unwrap_or(1))
                .map(|_| CoarseBlock {
                    conv: conv3(self.hidden),
                    norm: GroupNormConfig::new(self.groups, self.hidden).init(device),
                })
                .collect(),
            top_down: self.top_down.unwrap_or(false),
        })
    }
}

impl CoarseHead {
    /// Class logits `[B, K, H, W]` of level-0 features `[B, C, H, W]`.
    pub fn forward(&self, level0: Tensor<4>) -> Tensor<4> {
        let x = relu(self.norm.forward(self.conv.forward(level0)));
        let x = self.blocks.iter().fold(x, |x, block| block.forward(x));
        self.classifier.forward(x)
    }

    /// Class logits at level 0's size from the neck's levels (finest first): level 0 alone,
    /// or with `top_down` level 0 plus level 2 upsampled (nearest) to its size.
    pub fn forward_fpn(&self, fpn: &[Tensor<4>]) -> Tensor<4> {
        match (self.top_down, fpn.get(2)) {
            (true, Some(level2)) => {
                let [_, _, h, w] = fpn[0].dims();
                let up = interpolate(
                    level2.clone(),
                    InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]),
                );
                self.forward(fpn[0].clone() + up)
            }
            _ => self.forward(fpn[0].clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn keeps_the_resolution_and_gives_one_logit_per_class() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 101, || {
            let device = Device::flex();
            let head = CoarseHeadConfig {
                hidden: 16,
                groups: 4,
                ..CoarseHeadConfig::new(8, 4)
            }
            .init(&device)
            .unwrap();
            let x = Tensor::<4>::random([2, 8, 12, 10], Distribution::Normal(0.0, 1.0), &device);
            assert_eq!(head.forward(x).dims(), [2, 4, 12, 10]);
            assert!(
                CoarseHeadConfig {
                    groups: 5,
                    ..CoarseHeadConfig::new(8, 4)
                }
                .init(&device)
                .is_err()
            );
        })
    }

    /// Manifests carry this configuration: the ones written before `top_down` (or with the
    /// sizes left out) must still read, and a head without the switch writes no `top_down`.
    #[test]
    fn manifests_old_and_new_read_back() {
        let old: CoarseHeadConfig =
            serde_json::from_str(r#"{"in_channels":128,"num_classes":4,"hidden":64,"groups":8}"#)
                .unwrap();
        assert_eq!(old, CoarseHeadConfig::new(128, 4));
        let bare: CoarseHeadConfig =
            serde_json::from_str(r#"{"in_channels":32,"num_classes":6}"#).unwrap();
        assert_eq!((bare.hidden, bare.groups, bare.top_down), (64, 8, None));
        let null: CoarseHeadConfig = serde_json::from_str(
            r#"{"in_channels":32,"num_classes":6,"hidden":16,"groups":4,"top_down":null}"#,
        )
        .unwrap();
        assert_eq!(null.top_down, None);
        let written = serde_json::to_string(&CoarseHeadConfig::new(128, 4)).unwrap();
        assert_eq!(
            written,
            r#"{"in_channels":128,"num_classes":4,"hidden":64,"groups":8}"#
        );
        let on = CoarseHeadConfig {
            top_down: Some(true),
            ..CoarseHeadConfig::new(128, 4)
        };
        let back: CoarseHeadConfig =
            serde_json::from_str(&serde_json::to_string(&on).unwrap()).unwrap();
        assert_eq!(back, on);
        assert!(serde_json::from_str::<CoarseHeadConfig>(r#"{"num_classes":4}"#).is_err());
    }

    /// `depth` adds blocks of the hidden width (the released head has none), keeps the output's
    /// shape, is written to the manifest only when set, and a depth of 0 is refused.
    #[test]
    fn depth_adds_blocks_before_the_classifier() {
        crate::backend::seeded(&Device::flex(), 103, || {
            let device = Device::flex();
            let cfg = CoarseHeadConfig {
                hidden: 16,
                groups: 4,
                depth: Some(3),
                ..CoarseHeadConfig::new(8, 4)
            };
            let head = cfg.init(&device).unwrap();
            assert_eq!(head.blocks.len(), 2);
            assert_eq!(head.blocks[0].conv.weight.dims(), [16, 16, 3, 3]);
            let released = CoarseHeadConfig {
                depth: None,
                ..cfg.clone()
            };
            assert!(released.init(&device).unwrap().blocks.is_empty());
            let x = Tensor::<4>::random([1, 8, 6, 5], Distribution::Normal(0.0, 1.0), &device);
            assert_eq!(head.forward(x).dims(), [1, 4, 6, 5]);
            let json = serde_json::to_string(&cfg).unwrap();
            assert!(json.contains(r#""depth":3"#), "{json}");
            assert_eq!(
                serde_json::from_str::<CoarseHeadConfig>(&json).unwrap(),
                cfg
            );
            assert!(
                CoarseHeadConfig {
                    depth: Some(0),
                    ..cfg
                }
                .init(&device)
                .is_err()
            );
        })
    }

    #[test]
    fn top_down_adds_the_upsampled_level_2_and_only_then() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 102, || {
            let device = Device::flex();
            let cfg = CoarseHeadConfig {
                hidden: 16,
                groups: 4,
                ..CoarseHeadConfig::new(8, 3)
            };
            let plain = cfg.init(&device).unwrap();
            let mut with = CoarseHeadConfig {
                top_down: Some(true),
                ..cfg
            }
            .init(&device)
            .unwrap();
            with.conv = plain.conv.clone();
            with.norm = plain.norm.clone();
            with.classifier = plain.classifier.clone();
            let l0 = Tensor::<4>::random([1, 8, 8, 8], Distribution::Normal(0.0, 1.0), &device);
            let l1 = Tensor::<4>::random([1, 8, 4, 4], Distribution::Normal(0.0, 1.0), &device);
            let l2 = Tensor::<4>::random([1, 8, 2, 2], Distribution::Normal(0.0, 1.0), &device);
            let fpn = [l0.clone(), l1, l2.clone()];
            // Off: level 0 alone, whatever level 2 holds.
            let off = plain.forward_fpn(&fpn).into_data();
            off.assert_eq(&plain.forward(l0.clone()).into_data(), true);
            // On: each value of level 2 covers a 4 × 4 block of level 0.
            let up = l2
                .reshape([1, 8, 2, 1, 2, 1])
                .expand([1, 8, 2, 4, 2, 4])
                .reshape([1, 8, 8, 8]);
            with.forward_fpn(&fpn).into_data().assert_approx_eq::<f32>(
                &with.forward(l0 + up).into_data(),
                burn::tensor::Tolerance::default(),
            );
            assert!(
                (with.forward_fpn(&fpn) - plain.forward_fpn(&fpn))
                    .abs()
                    .max()
                    .into_scalar::<f32>()
                    > 1e-3
            );
        })
    }
}
