// How a slice is laid on the screen: the scan's voxel axes named by the patient directions
// they point toward (from its voxel-to-world affine, RAS+), the radiological convention that
// decides which flips and which transpose show it (the patient's right on the viewer's left,
// anterior up in axial slices, superior up in coronal and sagittal ones, anterior on the left
// in sagittal ones), the letters on the view's four edges, and the view transform between
// slice pixels and canvas pixels that the renderers, the prompt layer and the pointer share.
// Display only: the voxels, the masks and the prompts stay in the scan's own voxel order.

/**
 * Slice pixel → canvas pixel (device pixels): canvas = (offsetX, offsetY) + scale · A · (x, y),
 * with A = [[axes[0], axes[2]], [axes[1], axes[3]]] a signed permutation (the display's flips
 * and transpose; the identity when `axes` is absent). (offsetX, offsetY) is where the slice's
 * corner (0, 0) lies, `scale` the canvas pixels per slice pixel.
 * @typedef {{offsetX: number, offsetY: number, scale: number, axes?: number[]}} ViewTransform
 */

/**
 * How the slice is shown: `swap` lays the slice's x along the screen's vertical (a transpose),
 * then `flipX` / `flipY` mirror it left-right / top-bottom; `labels` are the patient directions
 * at the view's edges (null where the scan has no patient orientation: PNG, JPEG).
 * @typedef {{swap: boolean, flipX: boolean, flipY: boolean,
 *   labels: {left: string, right: string, top: string, bottom: string}|null}} Display
 */

/** Shown as stored: no flip, no transpose, no labels. @type {Display} */
export const AS_STORED = Object.freeze({ swap: false, flipX: false, flipY: false, labels: null });

/** The letter of each world axis's positive and negative direction (RAS+). */
const LETTERS = [['R', 'L'], ['A', 'P'], ['S', 'I']];
/** @param {string} letter @returns {string} */
const opposite = (letter) => ({ R: 'L', L: 'R', A: 'P', P: 'A', S: 'I', I: 'S' })[letter] ?? '?';
/** @param {string} letter the world axis (0 x, 1 y, 2 z) a direction lies along */
const worldAxis = (letter) => LETTERS.findIndex((pair) => pair.includes(letter));

/** The six ways to give each voxel axis its own world axis. */
const PERMUTATIONS = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

/**
 * The patient direction each voxel axis points toward ('R', 'L', 'A', 'P', 'S' or 'I'; nibabel's
 * aff2axcodes): each voxel axis takes the world axis nearest its direction, each world axis
 * used once (an oblique scan gets the nearest), the sign saying which way.
 * @param {ArrayLike<number>} affine voxel-to-world (RAS+, mm), row-major 4×4 (or its 3×4 top)
 * @returns {string[]} three letters, for voxel axes x, y, z
 */
export function axisCodes(affine) {
  /** @type {number[][]} column j: voxel axis j's direction, unit length */
  const columns = [0, 1, 2].map((j) => {
    const c = [0, 1, 2].map((i) => Number(affine[4 * i + j]) || 0);
    const norm = Math.hypot(...c) || 1;
    return c.map((v) => v / norm);
  });
  let best = PERMUTATIONS[0];
  let bestScore = -1;
  for (const p of PERMUTATIONS) {
    const score = p.reduce((sum, w, j) => sum + Math.abs(columns[j][w]), 0);
    if (score > bestScore + 1e-9) { bestScore = score; best = p; }
  }
  return best.map((w, j) => LETTERS[w][columns[j][w] < 0 ? 1 : 0]);
}

/**
 * The radiological display of a scan whose voxel axes point toward `codes` (`axisCodes`): the
 * slice plane is named by the world axis of voxel axis z (axial: S/I, coronal: A/P, sagittal:
 * R/L); on screen, axial slices have L to the right and P down, coronal ones L to the right and
 * I down, sagittal ones P to the right and I down. Without codes (an image with no patient
 * orientation), the slice is shown as stored, without labels.
 * @param {string[]|null} codes
 * @returns {Display}
 */
export function displayFor(codes) {
  if (!codes) return AS_STORED;
  const normal = worldAxis(codes[2]);
  const [right, down] = normal === 0 ? ['P', 'I'] : normal === 1 ? ['L', 'I'] : ['L', 'P'];
  // The voxel axis (x or y) that lies along the screen's horizontal.
  const swap = worldAxis(codes[0]) !== worldAxis(right);
  const [across, upDown] = swap ? [codes[1], codes[0]] : [codes[0], codes[1]];
  return {
    swap,
    flipX: across !== right,
    flipY: upDown !== down,
    labels: { left: opposite(right), right, top: opposite(down), bottom: down },
  };
}

/**
 * The view transform that fits an `nx` × `ny` slice, shown with `display`, into a `width` ×
 * `height` canvas (centred), then zooms by `zoom` and pans by `panX`, `panY` (all in device
 * pixels).
 * @param {number} nx
 * @param {number} ny
 * @param {Display} display
 * @param {number} width
 * @param {number} height
 * @param {number} zoom
 * @param {number} panX
 * @param {number} panY
 * @returns {ViewTransform}
 */
export function placeSlice(nx, ny, display, width, height, zoom, panX, panY) {
  const [shownW, shownH] = display.swap ? [ny, nx] : [nx, ny];
  const scale = Math.min(width / shownW, height / shownH) * zoom;
  const left = (width - shownW * scale) / 2 + panX;
  const top = (height - shownH * scale) / 2 + panY;
  const sx = display.flipX ? -1 : 1;
  const sy = display.flipY ? -1 : 1;
  return {
    scale,
    offsetX: left + (display.flipX ? shownW * scale : 0),
    offsetY: top + (display.flipY ? shownH * scale : 0),
    axes: display.swap ? [0, sy, sx, 0] : [sx, 0, 0, sy],
  };
}

/**
 * The canvas position of slice point (`x`, `y`) (a pixel's centre is at x + 0.5).
 * @param {ViewTransform} view
 * @param {number} x
 * @param {number} y
 */
export function toCanvas(view, x, y) {
  const [a, b, c, d] = view.axes ?? [1, 0, 0, 1];
  return {
    x: view.offsetX + view.scale * (a * x + c * y),
    y: view.offsetY + view.scale * (b * x + d * y),
  };
}

/**
 * The slice point under canvas position (`x`, `y`) (may lie outside the slice).
 * @param {ViewTransform} view
 * @param {number} x
 * @param {number} y
 */
export function toSlice(view, x, y) {
  // A signed permutation's inverse is its transpose.
  const [a, b, c, d] = view.axes ?? [1, 0, 0, 1];
  const u = (x - view.offsetX) / view.scale;
  const v = (y - view.offsetY) / view.scale;
  return { x: a * u + b * v, y: c * u + d * v };
}
