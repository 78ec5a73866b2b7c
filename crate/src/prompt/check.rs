//! Checks prompts that come from outside (a prompts file, the page, a person's edits) against
//! the volume and the weights' classes before anything runs on them, so that a prompt for
//! another scan is refused in words instead of indexing out of a slice.

use crate::prompt::pcsw::{ClassPrompt, MAX_CLICKS};
use crate::{Result, SssError};

/// Refuses prompts that do not fit a volume of `dims` (x, y, slices) or weights with
/// `num_classes` classes (background included), naming the prompt and the problem: a class
/// that is not a foreground class or is prompted twice, a slice past the last one, a box or a
/// point or a click off the slice or not finite, too many clicks.
pub fn check_class_prompts(
    prompts: &[ClassPrompt],
    dims: [usize; 3],
    num_classes: usize,
) -> Result<()> {
    let [nx, ny, nz] = dims;
    let k = num_classes;
    for (i, p) in prompts.iter().enumerate() {
        let c = p.class as usize;
        if c == 0 || c >= k {
            return Err(SssError::InvalidInput(format!(
                "prompt {i}: class {c} is not a foreground class of these weights (1..{})",
                k - 1
            )));
        }
        if prompts[..i].iter().any(|q| q.class == p.class) {
            return Err(SssError::InvalidInput(format!(
                "prompt {i}: class {c} is prompted twice; give one prompt per class"
            )));
        }
        if p.prompt.is_empty() {
            continue;
        }
        if p.prompt.slice >= nz {
            return Err(SssError::InvalidInput(format!(
                "prompt {i} (class {c}): slice {} does not exist; the scan has {nz} slices",
                p.prompt.slice
            )));
        }
        let [x0, y0, x1, y1] = p.prompt.box_xyxy;
        let [px, py] = p.prompt.point;
        let inside = |x: f32, y: f32| {
            x.is_finite()
                && y.is_finite()
                && x >= 0.0
                && y >= 0.0
                && x <= (nx - 1) as f32
                && y <= (ny - 1) as f32
        };
        if !(inside(x0, y0) && inside(x1, y1) && x0 <= x1 && y0 <= y1) {
            return Err(SssError::InvalidInput(format!(
                "prompt {i} (class {c}): box {:?} is not [x_min, y_min, x_max, y_max] \
                 inside the {nx}×{ny} slice",
                p.prompt.box_xyxy
            )));
        }
        if !inside(px, py) {
            return Err(SssError::InvalidInput(format!(
                "prompt {i} (class {c}): point {:?} is outside the {nx}×{ny} slice",
                p.prompt.point
            )));
        }
        if p.clicks.len() > MAX_CLICKS {
            return Err(SssError::InvalidInput(format!(
                "prompt {i} (class {c}): {} clicks; at most {MAX_CLICKS} are taken",
                p.clicks.len()
            )));
        }
        if let Some(click) = p.clicks.iter().find(|k| !inside(k.point[0], k.point[1])) {
            return Err(SssError::InvalidInput(format!(
                "prompt {i} (class {c}): click {:?} is outside the {nx}×{ny} slice",
                click.point
            )));
        }
    }
    Ok(())
}
