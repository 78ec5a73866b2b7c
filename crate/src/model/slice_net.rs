//! `SliceNet`: a small convolutional encoder–decoder that segments one slice into classes.
//!
//! It is the page's first model (the whole path — wasm, WebGPU, readback, overlay — runs through
//! it) and the coarse segmenter that feeds PCSW when no SAM-2 coarse head is available. Input is
//! a normalised slice `[batch, in_channels, H, W]` (H and W multiples of 4), output is class
//! logits `[batch, num_classes, H, W]`.

use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor};
use serde::{Deserialize, Serialize};

/// Sizes of a [`SliceNet`] (a plain serde struct, as every configuration in the crate:
/// `docs/DESIGN.md`, "Configuration"); a missing field reads as its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SliceNetConfig {
    /// Input channels (1 for a grey slice).
    pub in_channels: usize,
    /// Output classes, background included.
    pub num_classes: usize,
    /// Channels of the first level; each deeper level doubles them.
    pub width: usize,
}

impl Default for SliceNetConfig {
    fn default() -> Self {
        Self {
            in_channels: 1,
            num_classes: 4,
            width: 16,
        }
    }
}

/// Two 3×3 convolutions with ReLU.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv1: Conv2d,
    conv2: Conv2d,
}

impl ConvBlock {
    fn new(in_channels: usize, out_channels: usize, device: &Device) -> Self {
        let conv = |i, o| {
            Conv2dConfig::new([i, o], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        Self {
            conv1: conv(in_channels, out_channels),
            conv2: conv(out_channels, out_channels),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        relu(self.conv2.forward(relu(self.conv1.forward(x))))
    }
}

/// A three-level U-Net-style slice segmenter.
#[derive(Module, Debug)]
pub struct SliceNet {
    enc1: ConvBlock,
    enc2: ConvBlock,
    bottom: ConvBlock,
    pool: MaxPool2d,
    up2: ConvTranspose2d,
    dec2: ConvBlock,
    up1: ConvTranspose2d,
    dec1: ConvBlock,
    head: Conv2d,
}

impl SliceNetConfig {
    /// Builds the network with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> SliceNet {
        let w = self.width;
        let up = |i, o| {
            ConvTranspose2dConfig::new([i, o], [2, 2])
                .with_stride([2, 2])
                .init(device)
        };
        SliceNet {
            enc1: ConvBlock::new(self.in_channels, w, device),
            enc2: ConvBlock::new(w, 2 * w, device),
            bottom: ConvBlock::new(2 * w, 4 * w, device),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            up2: up(4 * w, 2 * w),
            dec2: ConvBlock::new(4 * w, 2 * w, device),
            up1: up(2 * w, w),
            dec1: ConvBlock::new(2 * w, w, device),
            head: Conv2dConfig::new([w, self.num_classes], [1, 1]).init(device),
        }
    }
}

impl SliceNet {
    /// Class logits for a batch of normalised slices.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let e1 = self.enc1.forward(x);
        let e2 = self.enc2.forward(self.pool.forward(e1.clone()));
        let b = self.bottom.forward(self.pool.forward(e2.clone()));
        let d2 = self
            .dec2
            .forward(Tensor::cat(vec![self.up2.forward(b), e2], 1));
        let d1 = self
            .dec1
            .forward(Tensor::cat(vec![self.up1.forward(d2), e1], 1));
        self.head.forward(d1)
    }

    /// Per-pixel class labels `[batch, H, W]`, computed on the device.
    pub fn predict_labels(&self, x: Tensor<4>) -> Tensor<3, Int> {
        self.forward(x).argmax(1).squeeze_dim(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_net_keeps_the_slice_size_and_gives_one_logit_per_class() {
        // Draws from burn's generator: inside the seeded section (see crate::backend::seeded).
        crate::backend::seeded(&Device::flex(), 121, || {
            let device = Device::flex();
            let net = SliceNetConfig {
                width: 4,
                ..Default::default()
            }
            .init(&device);
            let x = Tensor::<4>::random(
                [2, 1, 32, 24],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            );
            assert_eq!(net.forward(x.clone()).dims(), [2, 4, 32, 24]);
            let labels = net.predict_labels(x);
            assert_eq!(labels.dims(), [2, 32, 24]);
            let max = labels.max().into_scalar::<i64>();
            assert!((0..4).contains(&max), "labels out of range: {max}");
        })
    }
}
