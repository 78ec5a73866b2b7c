//! Where a positive point goes inside an object.
//!
//! The released PCSW code puts the point at the box centre, which for a ring (the myocardium)
//! or a crescent (the right ventricle) lies outside the object: the point then tells SAM-2
//! "this is foreground" about the wrong tissue. The rule used instead is the one official
//! SAM-2 evaluates clicks with (`sample_one_point_from_error_center`, after RITM): the object
//! pixel farthest from the object's edge, the image border counting as edge.

/// Which point a prompt built from a mask carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointRule {
    /// The object pixel farthest from its edge (always inside the object).
    #[default]
    Interior,
    /// The released PCSW rule: the centre of the bounding box (on the fallback slice, the
    /// foreground's centroid); may lie outside the object.
    Released,
}

/// The pixel of a `[h][w]` mask farthest from any background pixel (8-neighbour chamfer
/// distance with weights 3 and 4; the outside of the image counts as background), as `[x, y]`.
/// Among equally far pixels, the one nearest to their centroid (then the first in raster
/// order), so a disk gives its centre and a bar its middle. `None` for an empty mask.
pub fn interior_point(mask: &[bool], w: usize, h: usize) -> Option<[usize; 2]> {
    if mask.len() != w * h || !mask.contains(&true) {
        return None;
    }
    const FAR: u32 = u32::MAX / 2;
    let mut d: Vec<u32> = mask.iter().map(|&m| if m { FAR } else { 0 }).collect();
    // Distance to the outside of the image: a pixel on the border is one step from it.
    let at = |d: &[u32], x: isize, y: isize, step: u32| -> u32 {
        if x < 0 || y < 0 || x >= w as isize || y >= h as isize {
            step
        } else {
            d[y as usize * w + x as usize].saturating_add(step)
        }
    };
    for y in 0..h as isize {
        for x in 0..w as isize {
            let i = y as usize * w + x as usize;
            if d[i] == 0 {
                continue;
            }
            let best = [
                at(&d, x - 1, y, 3),
                at(&d, x, y - 1, 3),
                at(&d, x - 1, y - 1, 4),
                at(&d, x + 1, y - 1, 4),
            ]
            .into_iter()
            .fold(d[i], u32::min);
            d[i] = best;
        }
    }
    for y in (0..h as isize).rev() {
        for x in (0..w as isize).rev() {
            let i = y as usize * w + x as usize;
            if d[i] == 0 {
                continue;
            }
            let best = [
                at(&d, x + 1, y, 3),
                at(&d, x, y + 1, 3),
                at(&d, x + 1, y + 1, 4),
                at(&d, x - 1, y + 1, 4),
            ]
            .into_iter()
            .fold(d[i], u32::min);
            d[i] = best;
        }
    }
    let far = d.iter().copied().max().unwrap_or(0);
    let tops: Vec<usize> = (0..d.len()).filter(|&i| d[i] == far).collect();
    let n = tops.len() as f64;
    let cx = tops.iter().map(|&i| (i % w) as f64).sum::<f64>() / n;
    let cy = tops.iter().map(|&i| (i / w) as f64).sum::<f64>() / n;
    let dist = |i: usize| ((i % w) as f64 - cx).powi(2) + ((i / w) as f64 - cy).powi(2);
    let mut best = tops[0];
    for &i in &tops[1..] {
        if dist(i) < dist(best) {
            best = i;
        }
    }
    Some([best % w, best / w])
}

/// The point of `rule` for a mask with bounding box `b` (inclusive pixel indices).
pub fn point_of(rule: PointRule, mask: &[bool], w: usize, h: usize, b: [usize; 4]) -> [f32; 2] {
    match (rule, interior_point(mask, w, h)) {
        (PointRule::Interior, Some([x, y])) => [x as f32, y as f32],
        _ => [(b[0] + b[2]) as f32 / 2.0, (b[1] + b[3]) as f32 / 2.0],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(size: usize, r_in: f32, r_out: f32) -> Vec<bool> {
        let c = (size as f32 - 1.0) / 2.0;
        (0..size * size)
            .map(|i| {
                let (x, y) = ((i % size) as f32 - c, (i / size) as f32 - c);
                let r = (x * x + y * y).sqrt();
                r >= r_in && r <= r_out
            })
            .collect()
    }

    #[test]
    fn the_point_of_a_ring_is_on_the_ring_and_its_box_centre_is_not() {
        let (size, mask) = (41, ring(41, 10.0, 16.0));
        let [x, y] = interior_point(&mask, size, size).unwrap();
        assert!(
            mask[y * size + x],
            "interior point ({x}, {y}) is on the ring"
        );
        // Farthest from the edges: about midway through the ring's width.
        let c = 20.0f32;
        let r = ((x as f32 - c).powi(2) + (y as f32 - c).powi(2)).sqrt();
        assert!((11.5..=14.5).contains(&r), "radius {r}");
        let centre = point_of(PointRule::Released, &mask, size, size, [4, 4, 36, 36]);
        assert!(!mask[centre[1] as usize * size + centre[0] as usize]);
    }

    #[test]
    fn the_point_of_a_rectangle_is_its_middle_and_borders_count_as_edges() {
        let (w, h) = (12, 7);
        // The whole image is foreground: the middle is farthest from the image border.
        let mask = vec![true; w * h];
        let [x, y] = interior_point(&mask, w, h).unwrap();
        assert_eq!(y, 3);
        assert!((5..=6).contains(&x), "x {x}");
        // A bar one pixel high: every pixel is as far from the edge; the middle one wins.
        let bar = [false, true, true, true, false];
        assert_eq!(interior_point(&bar, 5, 1), Some([2, 0]));
        assert_eq!(interior_point(&[false; 4], 2, 2), None);
        assert_eq!(interior_point(&[true; 3], 2, 2), None, "wrong size");
    }
}
