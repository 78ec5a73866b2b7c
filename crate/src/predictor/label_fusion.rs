//! Labels from SAM-2's per-object masks: alone (the class with the highest mask logit above the
//! mask threshold, 0 as the paper and official SAM-2) or fused with the coarse head's class
//! probabilities ([`LabelFusion`], as the weights' manifest says), slice by slice
//! ([`SliceLabeler`]); and the post-processing that keeps each class's largest 3-D component
//! ([`largest_components`]) or gives each 3-D component of the foreground its majority class
//! ([`component_vote`]).

use super::pipeline::CoarseOutput;
use crate::Result;
use crate::prompt::pcsw::{ClassPrompt, Connectivity, PromptSource, connected_components};
#[cfg(doc)]
use crate::weights::LabelFusion;

/// The label map (x fastest, `dims = [nx, ny, nz]`) with each of `classes` reduced to its
/// largest 3-D connected component (26-connectivity); other labels become background.
pub fn largest_components(labels: &[u8], dims: [usize; 3], classes: &[u8]) -> Result<Vec<u8>> {
    let mut kept = vec![0u8; labels.len()];
    for &class in classes {
        let mask: Vec<bool> = labels.iter().map(|&l| l == class).collect();
        let components = connected_components(&mask, dims, Connectivity::TwentySix)?;
        if let Some(largest) = components.largest() {
            for (k, &l) in kept.iter_mut().zip(&components.labels) {
                if l == largest {
                    *k = class;
                }
            }
        }
    }
    Ok(kept)
}

/// The label map (x fastest, `dims = [nx, ny, nz]`) with every 3-D connected component of the
/// foreground (any label but 0, 26-connectivity) relabelled with the label most of its voxels
/// carry (the lowest label among equals). Background stays background.
pub fn component_vote(labels: &[u8], dims: [usize; 3]) -> Result<Vec<u8>> {
    let mask: Vec<bool> = labels.iter().map(|&l| l != 0).collect();
    let components = connected_components(&mask, dims, Connectivity::TwentySix)?;
    // One row of counts per component, as wide as the highest label present (a scan's few
    // classes, not 256), so a speckled map of many small components stays small.
    let width = labels.iter().copied().max().unwrap_or(0) as usize + 1;
    let mut votes = vec![0usize; components.sizes.len() * width];
    for (&c, &l) in components.labels.iter().zip(labels) {
        if c != 0 {
            votes[(c as usize - 1) * width + l as usize] += 1;
        }
    }
    let winners: Vec<u8> = votes
        .chunks_exact(width)
        .map(|v| {
            let (mut best, mut count) = (0u8, 0usize);
            for (label, &n) in v.iter().enumerate().skip(1) {
                if n > count {
                    (best, count) = (label as u8, n);
                }
            }
            best
        })
        .collect();
    Ok(components
        .labels
        .iter()
        .map(|&c| if c == 0 { 0 } else { winners[c as usize - 1] })
        .collect())
}

/// Writes slices of the label map from SAM-2's per-object logits `[N][h][w]` of a slice, alone
/// or fused with the coarse head ([`LabelFusion`]).
///
/// Fused, only the objects of automatic (PCSW) prompts take part, over the classes they
/// stand for: a class without an automatic prompt (left out, empty, or prompted by a person)
/// gives its coarse probability to the background, so the coarse head cannot bring back a
/// class the user removed. Objects a person prompted (`PromptSource::User`) are then drawn
/// on top from SAM-2's mask alone (logit above the mask threshold, the highest of them), so a
/// corrected box is followed exactly.
pub struct SliceLabeler<'a> {
    hw: [usize; 2],
    /// The class of each SAM-2 object.
    class_of: Vec<u8>,
    /// Whether each object's prompt came from a person.
    by_user: Vec<bool>,
    /// The coarse head's output over the volume and SAM-2's weight, when fused.
    coarse: Option<(&'a CoarseOutput, f32)>,
    /// SAM-2's mask threshold: an object's logit must exceed it; the background's logit in
    /// the fused distribution (0, official SAM-2's, unless [`Self::with_mask_threshold`]).
    threshold: f32,
}

impl<'a> SliceLabeler<'a> {
    /// Objects in `predictor`'s order, their prompt sources from `prompts` (matched by class).
    pub fn new(
        hw: [usize; 2],
        class_of: Vec<u8>,
        prompts: &[ClassPrompt],
        coarse: Option<(&'a CoarseOutput, f32)>,
    ) -> Self {
        let by_user = class_of
            .iter()
            .map(|&c| {
                prompts
                    .iter()
                    .any(|p| p.class == c && p.prompt.source == PromptSource::User)
            })
            .collect();
        Self {
            hw,
            class_of,
            by_user,
            coarse,
            threshold: 0.0,
        }
    }

    /// The same labeler with mask threshold `t` (the manifest's `mask_threshold`): lower
    /// draws more of each object, higher less.
    pub fn with_mask_threshold(mut self, t: f32) -> Self {
        self.threshold = t;
        self
    }

    /// Writes slice `z` of `labels` (x fastest) from that slice's object logits.
    pub fn write(&self, labels: &mut [u8], z: usize, logits: &[f32]) {
        let plane = self.hw[0] * self.hw[1];
        let slice = &mut labels[z * plane..(z + 1) * plane];
        let Some((coarse, w)) = self.coarse else {
            for (i, label) in slice.iter_mut().enumerate() {
                *label = self
                    .highest_above_threshold(logits, plane, i, |_| true)
                    .unwrap_or(0);
            }
            return;
        };
        let k = coarse.num_classes();
        let probabilities = coarse.slice_planes(z);
        let automatic: Vec<usize> = (0..self.class_of.len())
            .filter(|&o| !self.by_user[o])
            .collect();
        let mut fused_class = vec![false; k];
        for &o in &automatic {
            fused_class[self.class_of[o] as usize] = true;
        }
        let mut score = vec![0f32; k];
        for (i, label) in slice.iter_mut().enumerate() {
            // SAM-2's class distribution: softmax over [t (background), l_o of the automatic
            // objects].
            let t = self.threshold;
            let m = automatic
                .iter()
                .fold(t, |m, &o| m.max(logits[o * plane + i]));
            let sum = automatic
                .iter()
                .fold((t - m).exp(), |s, &o| s + (logits[o * plane + i] - m).exp());
            score.fill(0.0);
            score[0] = w * (t - m).exp() / sum;
            for &o in &automatic {
                score[self.class_of[o] as usize] += w * (logits[o * plane + i] - m).exp() / sum;
            }
            for c in 0..k {
                let q = (1.0 - w) * probabilities[c * plane + i];
                score[if fused_class[c] { c } else { 0 }] += q;
            }
            let fused = (0..k).fold(0, |best, c| if score[c] > score[best] { c } else { best });
            *label = self
                .highest_above_threshold(logits, plane, i, |o| self.by_user[o])
                .unwrap_or(fused as u8);
        }
    }

    /// The class of the object with the highest logit above the mask threshold at pixel `i`,
    /// among the objects `take` accepts.
    fn highest_above_threshold(
        &self,
        logits: &[f32],
        plane: usize,
        i: usize,
        take: impl Fn(usize) -> bool,
    ) -> Option<u8> {
        let mut best = (self.threshold, None);
        for (o, &class) in self.class_of.iter().enumerate() {
            let l = logits[o * plane + i];
            if take(o) && l > best.0 {
                best = (l, Some(class));
            }
        }
        best.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::predictor::pipeline::test_fixtures::prompt;

    /// Two slices of one pixel, two SAM-2 objects (classes 1 and 2, logits 2 and 0 on slice 1)
    /// and the coarse head's [0.1, 0.2, 0.7] there. SAM-2's distribution is
    /// softmax([0, 2, 0]) = [0.1065, 0.7870, 0.1065]; fused with w = 0.5 the scores are
    /// [0.103, 0.494, 0.403] (class 1), with w = 0.25 [0.102, 0.347, 0.552] (class 2).
    #[test]
    fn label_fusion_weighs_sam2_against_the_coarse_head() {
        // [class][z][pixel]
        let coarse =
            CoarseOutput::new(vec![1.0, 0.1, 0.0, 0.2, 0.0, 0.7], 3, 2, [1, 1], [1, 1]).unwrap();
        assert_eq!(coarse.labels, vec![0, 2]);
        let logits = [2.0f32, 0.0];
        let label = |fusion: Option<f32>| {
            let mut labels = vec![9u8; 2];
            SliceLabeler::new([1, 1], vec![1, 2], &[], fusion.map(|w| (&coarse, w))).write(
                &mut labels,
                1,
                &logits,
            );
            assert_eq!(labels[0], 9, "only slice 1 is written");
            labels[1]
        };
        assert_eq!(label(None), 1, "SAM-2 alone: the highest logit above 0");
        assert_eq!(label(Some(1.0)), 1, "w = 1 is SAM-2 alone");
        assert_eq!(label(Some(0.5)), 1);
        assert_eq!(label(Some(0.25)), 2);
        assert_eq!(label(Some(0.0)), 2, "w = 0 is the coarse head");
        // No logit above 0: background for SAM-2 alone.
        let mut labels = vec![0u8; 2];
        SliceLabeler::new([1, 1], vec![1, 2], &[], None).write(&mut labels, 1, &[-1.0, -0.5]);
        assert_eq!(labels[1], 0);
    }

    /// The mask threshold moves SAM-2's decision, alone and fused. One pixel, one object
    /// (class 1) with logit −0.5 and the coarse head's [0.6, 0.4]. Alone: background at
    /// t = 0, class 1 at t = −1. Fused with w = 0.5: SAM-2's distribution softmax([t, −0.5])
    /// is [0.622, 0.378] at t = 0, scores [0.611, 0.389] (background); at t = −1 it is
    /// [0.378, 0.622], scores [0.489, 0.511] (class 1).
    #[test]
    fn the_mask_threshold_moves_the_decision() {
        let coarse = CoarseOutput::new(vec![0.6, 0.4], 2, 1, [1, 1], [1, 1]).unwrap();
        let label = |fused: bool, t: f32| {
            let mut labels = vec![9u8];
            SliceLabeler::new([1, 1], vec![1], &[], fused.then_some((&coarse, 0.5)))
                .with_mask_threshold(t)
                .write(&mut labels, 0, &[-0.5]);
            labels[0]
        };
        assert_eq!(label(false, 0.0), 0, "alone, official threshold");
        assert_eq!(label(false, -1.0), 1, "alone, lower threshold");
        assert_eq!(label(false, -0.5), 0, "the logit must exceed the threshold");
        assert_eq!(label(true, 0.0), 0, "fused, official threshold");
        assert_eq!(label(true, -1.0), 1, "fused, lower threshold");
    }

    /// Fused, a class without an automatic prompt cannot come back from the coarse head, and
    /// an object a person prompted is drawn from SAM-2's mask alone. Same pixel as above:
    /// with class 2 removed (only class 1's object) or prompted by a person, SAM-2's
    /// distribution is softmax([0, 2]) = [0.119, 0.881] and class 2's coarse 0.7 goes to the
    /// background: scores [0.030 + 0.600, 0.220 + 0.150], background.
    #[test]
    fn fusion_follows_what_the_user_prompted() {
        let coarse = CoarseOutput::new(vec![0.1, 0.2, 0.7], 3, 1, [1, 1], [1, 1]).unwrap();
        let fused = Some((&coarse, 0.25));
        let label = |class_of: Vec<u8>, prompts: &[ClassPrompt], logits: &[f32]| {
            let mut labels = vec![9u8];
            SliceLabeler::new([1, 1], class_of, prompts, fused).write(&mut labels, 0, logits);
            labels[0]
        };
        assert_eq!(label(vec![1], &[], &[2.0]), 0, "class 2 removed");
        let mut automatic = prompt(1, 0);
        automatic.prompt.source = PromptSource::Component;
        let prompts = [automatic, prompt(2, 0)];
        assert_eq!(
            label(vec![1, 2], &prompts, &[2.0, -1.0]),
            0,
            "the user's mask is empty here"
        );
        assert_eq!(
            label(vec![1, 2], &prompts, &[2.0, 0.5]),
            2,
            "the user's mask covers it"
        );
        assert_eq!(
            label(vec![1, 2], &[], &[2.0, -1.0]),
            2,
            "both automatic: as above"
        );
    }

    /// Two lesions in a 5×1×2 map: a 3-voxel one labelled 2, 2, 3 across two slices, which
    /// becomes all 2; and a lone voxel of 4 (a separate component: x = 4 is not adjacent to
    /// x = 1, 2), which keeps its label. Equal votes go to the lower label.
    #[test]
    fn component_vote_gives_each_lesion_its_majority_type() {
        // z = 0: [2, 3, 0, 0, 4]; z = 1: [0, 2, 0, 0, 0]
        let labels = [2u8, 3, 0, 0, 4, 0, 2, 0, 0, 0];
        let voted = component_vote(&labels, [5, 1, 2]).unwrap();
        assert_eq!(voted, vec![2, 2, 0, 0, 4, 0, 2, 0, 0, 0]);
        let tie = component_vote(&[3u8, 1], [2, 1, 1]).unwrap();
        assert_eq!(tie, vec![1, 1], "a tie goes to the lower label");
        assert!(
            component_vote(&[1u8; 3], [2, 1, 1]).is_err(),
            "dims must match"
        );
    }
}
