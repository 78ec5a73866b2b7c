// Unit tests of web/js/orientation.js in Node: the voxel axes' patient directions from an
// affine (nearest axis, oblique too), the radiological display of axial, coronal, sagittal and
// transposed scans with the letters on the edges, and the view transform both ways.

import assert from 'node:assert/strict';
import test from 'node:test';

import { AS_STORED, axisCodes, displayFor, placeSlice, toCanvas, toSlice } from '../../web/js/orientation.js';

/**
 * A row-major 4×4 affine whose columns are the voxel axes' directions.
 * @param {number[]} x @param {number[]} y @param {number[]} z
 */
function affine(x, y, z) {
  return [x[0], y[0], z[0], 0, x[1], y[1], z[1], 0, x[2], y[2], z[2], 0, 0, 0, 0, 1];
}

test('axisCodes names the direction each voxel axis points toward, the nearest for oblique ones', () => {
  assert.deepEqual(axisCodes(affine([1.5, 0, 0], [0, 1.5, 0], [0, 0, 10])), ['R', 'A', 'S']);
  assert.deepEqual(axisCodes(affine([-1, 0, 0], [0, -1, 0], [0, 0, 1])), ['L', 'P', 'S']);
  // A coronal acquisition, tilted 20°: voxel y runs mostly inferior, z mostly anterior.
  const t = (20 * Math.PI) / 180;
  assert.deepEqual(axisCodes(affine([-1, 0, 0], [0, -Math.sin(t), -Math.cos(t)], [0, Math.cos(t), -Math.sin(t)])),
    ['L', 'I', 'A']);
  // Two axes nearest the same world axis: each world axis is used once.
  assert.deepEqual(axisCodes(affine([0.7, 0.69, 0], [0.69, -0.7, 0], [0, 0, 1])), ['R', 'P', 'S']);
});

test('displayFor shows axial slices with R on the left and A on top, whatever the affine', () => {
  assert.deepEqual(displayFor(['R', 'A', 'S']),
    { swap: false, flipX: true, flipY: true, labels: { left: 'R', right: 'L', top: 'A', bottom: 'P' } });
  assert.deepEqual(displayFor(['L', 'P', 'I']),
    { swap: false, flipX: false, flipY: false, labels: { left: 'R', right: 'L', top: 'A', bottom: 'P' } });
  assert.deepEqual(displayFor(['L', 'A', 'S']),
    { swap: false, flipX: false, flipY: true, labels: { left: 'R', right: 'L', top: 'A', bottom: 'P' } });
  // Rows along A/P, columns along R/L: transposed.
  assert.deepEqual(displayFor(['P', 'R', 'S']),
    { swap: true, flipX: true, flipY: false, labels: { left: 'R', right: 'L', top: 'A', bottom: 'P' } });
  // Coronal: superior up; sagittal: anterior on the left, superior up.
  assert.deepEqual(displayFor(['L', 'S', 'P']),
    { swap: false, flipX: false, flipY: true, labels: { left: 'R', right: 'L', top: 'S', bottom: 'I' } });
  assert.deepEqual(displayFor(['A', 'I', 'R']),
    { swap: false, flipX: true, flipY: false, labels: { left: 'A', right: 'P', top: 'S', bottom: 'I' } });
  assert.equal(displayFor(null), AS_STORED, 'no orientation: as stored, no letters');
});

test('placeSlice and toSlice agree, and flips put each corner where the display says', () => {
  // A 4 × 2 slice in a 40 × 40 canvas: scale 10, centred (10 canvas pixels above and below).
  const plain = placeSlice(4, 2, AS_STORED, 40, 40, 1, 0, 0);
  assert.deepEqual(toCanvas(plain, 0, 0), { x: 0, y: 10 });
  const flipped = placeSlice(4, 2, displayFor(['R', 'A', 'S']), 40, 40, 1, 0, 0);
  // Voxel (0, 0)'s centre is at the bottom right.
  assert.deepEqual(toCanvas(flipped, 0.5, 0.5), { x: 35, y: 25 });
  const swapped = placeSlice(4, 2, displayFor(['P', 'R', 'S']), 40, 40, 2, 3, -4);
  for (const view of [plain, flipped, swapped]) {
    for (const [x, y] of [[0.5, 0.5], [3.5, 1.5], [2.25, 0.75]]) {
      const c = toCanvas(view, x, y);
      const back = toSlice(view, c.x, c.y);
      assert.ok(Math.abs(back.x - x) < 1e-9 && Math.abs(back.y - y) < 1e-9, `${x},${y} -> ${back.x},${back.y}`);
    }
  }
  // Transposed: the slice's 2 rows lie across the screen, its 4 columns down it.
  const a = toCanvas(swapped, 0, 0);
  const b = toCanvas(swapped, 4, 2);
  assert.equal(Math.abs(b.x - a.x) / swapped.scale, 2);
  assert.equal(Math.abs(b.y - a.y) / swapped.scale, 4);
});
