//! The coarse head of SSS: the PCSW mask head (`models/pcsw.py` of the released code,
//! `docs/sss-method.md` §4.2 (a)) on FPN level 0 — `Conv3×3 → norm → ReLU → Conv1×1` to the
//! classes, background included. Its softmax over a whole volume is what PCSW reads.
//!
//! Deviation (`docs/DESIGN.md` §3): the released code never trains this head; here it is trained
//! (labeled CE+Dice, unlabeled from the teacher's pseudo-labels). The released BatchNorm is
//! replaced by GroupNorm: training batches are two slices, and batch statistics of two
//! slices (plus an EMA copy of running statistics) would make teacher and student disagree.

use burn::config::Config;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Sizes of the coarse head.
#[derive(Config, Debug, PartialEq)]
pub struct CoarseHeadConfig {
    /// Channels of FPN level 0 (the SAM-2 neck's `d_model`).
    pub in_channels: usize,
    /// Output classes, background included.
    pub num_classes: usize,
    /// Hidden channels (64 as released).
    #[config(default = 64)]
    pub hidden: usize,
    /// GroupNorm groups (must divide `hidden`).
    #[config(default = 8)]
    pub groups: usize,
}

/// `Conv3×3 → GroupNorm → ReLU → Conv1×1`.
#[derive(Module, Debug)]
pub struct CoarseHead {
    pub conv: Conv2d,
    pub norm: GroupNorm,
    pub classifier: Conv2d,
}

impl CoarseHeadConfig {
    /// Builds the head; fails on zero sizes or groups that do not divide the hidden width.
    pub fn init(&self, device: &Device) -> crate::Result<CoarseHead> {
        if self.in_channels == 0
            || self.num_classes < 2
            || self.hidden == 0
            || self.groups == 0
            || !self.hidden.is_multiple_of(self.groups)
        {
            return Err(crate::SssError::InvalidInput(format!(
                "coarse head: in {} / classes {} / hidden {} / groups {} (need ≥ 2 classes and \
                 groups dividing hidden)",
                self.in_channels, self.num_classes, self.hidden, self.groups
            )));
        }
        Ok(CoarseHead {
            conv: Conv2dConfig::new([self.in_channels, self.hidden], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            norm: GroupNormConfig::new(self.groups, self.hidden).init(device),
            classifier: Conv2dConfig::new([self.hidden, self.num_classes], [1, 1]).init(device),
        })
    }
}

impl CoarseHead {
    /// Class logits `[B, K, H, W]` of level-0 features `[B, C, H, W]`.
    pub fn forward(&self, level0: Tensor<4>) -> Tensor<4> {
        let x = relu(self.norm.forward(self.conv.forward(level0)));
        self.classifier.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    #[test]
    fn keeps_the_resolution_and_gives_one_logit_per_class() {
        let device = Device::flex();
        let head = CoarseHeadConfig::new(8, 4)
            .with_hidden(16)
            .with_groups(4)
            .init(&device)
            .unwrap();
        let x = Tensor::<4>::random([2, 8, 12, 10], Distribution::Normal(0.0, 1.0), &device);
        assert_eq!(head.forward(x).dims(), [2, 4, 12, 10]);
        assert!(
            CoarseHeadConfig::new(8, 4)
                .with_groups(5)
                .init(&device)
                .is_err()
        );
    }
}
