//! Supervised training of the [`SliceNet`] on labelled volumes: the page's first model and the
//! coarse segmenter. Slices are drawn at random, normalised like the page does
//! (per-volume percentiles), flipped/rotated, and fitted with cross-entropy + soft Dice by AdamW.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use crate::model::slice_net::{SliceNet, SliceNetConfig};
use crate::volume::percentile_range;
use crate::{Result, SssError, Volume};

/// Settings of one supervised run.
#[derive(Clone, Debug)]
pub struct SliceTrainOptions {
    pub steps: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Normalisation percentiles (%), as recorded in the manifest.
    pub percentiles: (f32, f32),
}

/// One labelled scan.
pub struct LabeledVolume {
    pub image: Volume<f32>,
    pub label: Volume<u8>,
}

/// Trains a fresh network; `progress(step, loss)` is called after every step.
pub fn train_slice_net(
    config: &SliceNetConfig,
    data: &[LabeledVolume],
    options: &SliceTrainOptions,
    mut progress: impl FnMut(usize, f32),
) -> Result<SliceNet> {
    let first = data
        .first()
        .ok_or_else(|| SssError::InvalidInput("no labelled volumes to train on".into()))?;
    let [w, h, _] = first.image.dims;
    if data
        .iter()
        .any(|v| v.image.dims[..2] != [w, h] || v.label.dims != v.image.dims)
    {
        return Err(SssError::InvalidInput(
            "all training volumes and labels must share one in-plane size".into(),
        ));
    }
    let device = Device::flex().autodiff();
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let ranges: Vec<(f32, f32)> = data
        .iter()
        .map(|v| percentile_range(&v.image.data, options.percentiles.0, options.percentiles.1))
        .collect();
    let mut net = crate::backend::seeded(&device, options.seed, || {
        crate::backend::materialised(config.init(&device))
    });
    let mut optim = AdamWConfig::new().with_weight_decay(1e-4).init();
    let ce = CrossEntropyLossConfig::new().init(&device);
    for step in 0..options.steps {
        let (images, labels) = sample_batch(data, &ranges, options.batch_size, &mut rng);
        let b = options.batch_size;
        let x = Tensor::<4>::from_data(TensorData::new(images, [b, 1, h, w]), &device);
        let logits = net.forward(x);
        let targets =
            Tensor::<1, Int>::from_data(TensorData::new(labels.clone(), [b * h * w]), &device);
        let c = config.num_classes;
        let flat = logits.clone().permute([0, 2, 3, 1]).reshape([b * h * w, c]);
        let loss_ce = ce.forward(flat, targets);
        let loss_dice = soft_dice_loss(logits, &labels, c, [b, h, w], &device);
        let loss = (loss_ce + loss_dice) / 2.0;
        let value = loss.clone().into_scalar::<f32>();
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        let lr = poly(options.learning_rate, step, options.steps);
        net = optim.step(lr, net, grads);
        progress(step, value);
    }
    Ok(net.valid())
}

/// Poly decay with power 0.9.
fn poly(base: f64, step: usize, steps: usize) -> f64 {
    base * (1.0 - step as f64 / steps.max(1) as f64).powf(0.9)
}

/// Mean over foreground classes of 1 − soft Dice.
fn soft_dice_loss(
    logits: Tensor<4>,
    labels: &[i64],
    classes: usize,
    [b, h, w]: [usize; 3],
    device: &Device,
) -> Tensor<1> {
    let mut one_hot = vec![0f32; b * classes * h * w];
    for (i, &l) in labels.iter().enumerate() {
        let (n, pix) = (i / (h * w), i % (h * w));
        one_hot[(n * classes + l as usize) * h * w + pix] = 1.0;
    }
    let target = Tensor::<4>::from_data(TensorData::new(one_hot, [b, classes, h, w]), device);
    let probs = softmax(logits, 1);
    let inter = (probs.clone() * target.clone()).sum_dims(&[0, 2, 3]);
    let total = probs.sum_dims(&[0, 2, 3]) + target.sum_dims(&[0, 2, 3]);
    let dice = (inter * 2.0 + 1e-5) / (total + 1e-5);
    let fg = dice.reshape([classes]).slice(1..classes);
    fg.mean().neg() + 1.0
}

/// A batch of normalised, randomly flipped/rotated slices and their labels.
fn sample_batch(
    data: &[LabeledVolume],
    ranges: &[(f32, f32)],
    batch: usize,
    rng: &mut SmallRng,
) -> (Vec<f32>, Vec<i64>) {
    let [w, h, _] = data[0].image.dims;
    let mut images = Vec::with_capacity(batch * w * h);
    let mut labels = Vec::with_capacity(batch * w * h);
    for _ in 0..batch {
        let v = rng.random_range(0..data.len());
        let z = rng.random_range(0..data[v].image.num_slices());
        let (lo, hi) = ranges[v];
        let scale = if hi > lo { 1.0 / (hi - lo) } else { 1.0 };
        let gain = rng.random_range(0.9..1.1f32);
        let (flip_x, flip_y) = (rng.random_bool(0.5), rng.random_bool(0.5));
        let image = data[v].image.slice(z);
        let label = data[v].label.slice(z);
        for y in 0..h {
            for x in 0..w {
                let sx = if flip_x { w - 1 - x } else { x };
                let sy = if flip_y { h - 1 - y } else { y };
                let i = sy * w + sx;
                images.push(((image[i] - lo) * scale * gain).clamp(0.0, 1.0));
                labels.push(i64::from(label[i]));
            }
        }
    }
    (images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bright square on a dark background: a few steps must lower the loss.
    #[test]
    fn training_lowers_the_loss_on_a_learnable_task() {
        let (w, h, d) = (16, 16, 2);
        let mut image = vec![0.1f32; w * h * d];
        let mut label = vec![0u8; w * h * d];
        for z in 0..d {
            for y in 4..12 {
                for x in 4..12 {
                    image[(z * h + y) * w + x] = 0.9;
                    label[(z * h + y) * w + x] = 1;
                }
            }
        }
        let data = vec![LabeledVolume {
            image: Volume::new(image, [w, h, d], [1.0; 3]).unwrap(),
            label: Volume::new(label, [w, h, d], [1.0; 3]).unwrap(),
        }];
        let config = SliceNetConfig {
            num_classes: 2,
            width: 4,
            ..Default::default()
        };
        let options = SliceTrainOptions {
            steps: 30,
            batch_size: 2,
            learning_rate: 1e-2,
            seed: 7,
            percentiles: (0.0, 100.0),
        };
        let mut losses = Vec::new();
        train_slice_net(&config, &data, &options, |_, l| losses.push(l)).unwrap();
        let first = losses[..3].iter().sum::<f32>() / 3.0;
        let last = losses[losses.len() - 3..].iter().sum::<f32>() / 3.0;
        assert!(last < 0.7 * first, "loss {first} → {last}");
    }
}
