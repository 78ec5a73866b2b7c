// PNG images and the display's orientation. A PNG made here (the demo scan's middle slice, 8-bit,
// written by pngjs) opens as a one-slice scan shown as stored, without orientation letters, and
// segments with the default weights without an error (masks shown, or the fit check says why
// not); a truncated PNG and a file named .png that is none are refused in words, the open scan
// staying. The demo scan with a marker in its voxel corner (x, y < 8) and three affines
// (RAS: shown flipped left-right and top-bottom; LAS: flipped top-bottom; PRS: voxel x along
// A/P, so shown transposed) is shown in the radiological convention on both renderers (WGSL and
// 2-D canvas): the edge letters read R, L, A, P, the marker lies in the corner of the screen the
// affine puts it in, computed here from the canvas size alone, and a brush click at the screen
// position of a voxel paints a disc centred on that voxel, drawn under the pointer; on PRS a box
// dragged between two voxels' screen positions becomes those voxels' box.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';

import { PNG } from 'pngjs';

import { NO_WEBGPU_FLAGS, WEBGPU_FLAGS, launch, openPage, startServer, volumeAfter } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

/** The demo scan as a NIfTI-1 file (uncompressed), its dims and its float32 voxels. */
function demo() {
  const bytes = gunzipSync(readFileSync(new URL('../../web/assets/demo/demo.nii.gz', import.meta.url)));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(view.getInt16(70, true), 16, 'the demo scan is float32');
  const dims = [1, 2, 3].map((i) => view.getInt16(40 + 2 * i, true));
  const offset = view.getFloat32(108, true);
  const voxels = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + dims[0] * dims[1] * dims[2] * 4));
  return { bytes, dims, offset, voxels };
}

/**
 * @param {import('playwright-core').Page} page
 * @param {{name: string, buffer: Buffer}} file
 */
async function openFile(page, file) {
  const seen = await page.evaluate(() => window.sss.errors.length);
  await page.setInputFiles('#file', { ...file, mimeType: 'application/octet-stream' });
  await page.waitForFunction(({ name, seen }) => {
    const s = window.sss;
    return (s.scan?.name === name && !s.busy) || s.errors.length > seen;
  }, { name: file.name, seen }, { timeout: 120_000 });
  return page.evaluate((seen) => {
    const s = window.sss;
    const box = /** @type {HTMLElement} */ (document.getElementById('orientation'));
    const edge = (/** @type {string} */ e) => /** @type {HTMLElement} */ (box.querySelector(`.${e}`)).textContent;
    return {
      name: s.scan?.name, dims: s.scan?.dims, errors: s.errors.slice(seen), codes: s.orientation.codes,
      lettersShown: !box.hidden && box.getBoundingClientRect().width > 0,
      letters: { left: edge('left'), right: edge('right'), top: edge('top'), bottom: edge('bottom') },
      info: document.getElementById('scan-info')?.textContent ?? '',
    };
  }, seen);
}

test('a PNG opens as one slice, shown as stored, and segments; a corrupt PNG is refused in words', { timeout: 600_000 }, async () => {
  const { dims, voxels } = demo();
  const [nx, ny, nz] = dims;
  const z = Math.floor(nz / 2);
  const slice = voxels.subarray(z * nx * ny, (z + 1) * nx * ny);
  const lo = slice.reduce((m, v) => Math.min(m, v), Infinity);
  const hi = slice.reduce((m, v) => Math.max(m, v), -Infinity);
  const png = new PNG({ width: nx, height: ny });
  slice.forEach((v, i) => {
    const g = Math.round(((v - lo) / (hi - lo)) * 255);
    png.data.set([g, g, g, 255], i * 4); // RGBA with equal channels: read as grey
  });
  const bytes = PNG.sync.write(png);

  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
    const opened = await openFile(page, { name: 'slice.png', buffer: bytes });
    assert.deepEqual(opened.errors, []);
    assert.deepEqual(opened.dims, [nx, ny, 1], 'one slice');
    assert.equal(opened.codes, null, 'an image has no patient orientation');
    assert.equal(opened.lettersShown, false, 'no letters on the edges');
    assert.match(opened.info, /slice\.png: 128 × 128 × 1 voxels, 1\.00 × 1\.00 × 1\.00 mm, no patient orientation/);
    const shown = await page.evaluate(() => {
      const s = window.sss;
      const scan = /** @type {NonNullable<typeof s.scan>} */ (s.scan);
      return { z: s.z, pixel: scan.voxels[5 * scan.dims[0] + 7], axes: window.sssRenderer.view.axes };
    });
    assert.equal(shown.z, 0);
    assert.equal(shown.pixel, png.data[(5 * nx + 7) * 4], 'grey levels as stored');
    assert.deepEqual(shown.axes, [1, 0, 0, 1], 'shown as stored');

    const run = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(run.errors, [], 'segmented without an error');
    assert.ok(run.lastVolume, 'a volume segmentation');
    const labelled = /** @type {number[]} */ (run.labels).filter((l) => l > 0).length;
    const fit = run.lastVolume?.fit?.message ?? '';
    console.log(`PNG slice: ${labelled} pixels labelled in ${run.lastVolume.ms.toFixed(0)} ms` + (fit ? `; fit check: ${fit}` : ''));
    assert.ok(labelled > 0 || fit.length > 0, 'masks shown, or the page says why not');
    assert.equal(run.masks, 1, 'the one slice has its masks');

    // Refusals: a truncated PNG, then a text file named .png; the PNG stays open.
    const truncated = await openFile(page, { name: 'truncated.png', buffer: bytes.subarray(0, bytes.length >> 1) });
    assert.equal(truncated.errors.length, 1);
    assert.match(truncated.errors[0], /^Cannot open truncated\.png: cannot read the scan: this PNG file (is corrupt or truncated|ends early)/);
    assert.equal(truncated.name, 'slice.png', 'the open scan stays');
    const text = await openFile(page, { name: 'notes.png', buffer: Buffer.from('not an image at all') });
    assert.match(text.errors[0], /^Cannot open notes\.png: cannot read the scan: this file \(19 bytes\) is not a PNG or JPEG image/);
    assert.deepEqual(errors, [], 'no page error');
  } finally {
    await browser.close();
  }
});

/**
 * Waits until the page's layout has settled (the header's "works offline" badge, which can
 * wrap the header, has been decided) and a frame has been drawn with it, so that the canvas
 * and the stage measured next are those the pointer meets.
 * @param {import('playwright-core').Page} page
 */
async function settled(page) {
  await page.waitForFunction(() => window.sss.offline !== null, null, { timeout: 60_000 });
  await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
}

/** The marker: voxels with x, y < MARK in every slice, far brighter than the scan. */
const MARK = 8;

/**
 * The demo scan with the marker and the sform whose columns (voxel axes x, y) are `x`, `y`
 * (slices 10 mm apart toward S), as a `.nii` file.
 * @param {number[]} x
 * @param {number[]} y
 */
function markedDemo(x, y) {
  const { bytes, dims, offset, voxels } = demo();
  const out = Buffer.from(bytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const [nx, ny, nz] = dims;
  const bright = voxels.reduce((m, v) => Math.max(m, v), -Infinity) * 10;
  for (let k = 0; k < nz; k++) {
    for (let j = 0; j < MARK; j++) {
      for (let i = 0; i < MARK; i++) view.setFloat32(offset + 4 * ((k * ny + j) * nx + i), bright, true);
    }
  }
  view.setInt16(252, 0, true); // no qform
  view.setInt16(254, 2, true); // the sform below
  const rows = [[x[0], y[0], 0, 0], [x[1], y[1], 0, 0], [x[2], y[2], 10, 0]];
  rows.flat().forEach((v, i) => view.setFloat32(280 + 4 * i, v, true));
  return out;
}

/**
 * The three affines: the voxel axes' directions, the letters the page must show for them, and
 * where the slice's voxel (x, y) must appear in the displayed slice's own grid (column, row),
 * by the radiological convention (R on the left, A on top), worked out here by hand.
 * @type {{name: string, x: number[], y: number[], codes: string[],
 *   shownAt: (x: number, y: number, nx: number, ny: number) => number[]}[]}
 */
const AFFINES = [
  // x toward R: R is on the left, so x grows leftward; y toward A: A is up, so y grows upward.
  { name: 'ras', x: [1.5, 0, 0], y: [0, 1.5, 0], codes: ['R', 'A', 'S'], shownAt: (x, y, nx, ny) => [nx - x, ny - y] },
  // x toward L: rightward; y toward A: upward.
  { name: 'las', x: [-1.5, 0, 0], y: [0, 1.5, 0], codes: ['L', 'A', 'S'], shownAt: (x, y, _nx, ny) => [x, ny - y] },
  // x toward P: downward; y toward R: leftward (a transposed display).
  { name: 'prs', x: [0, -1.5, 0], y: [1.5, 0, 0], codes: ['P', 'R', 'S'], shownAt: (x, y, _nx, ny) => [ny - y, x] },
];

for (const [renderer, flags] of /** @type {const} */ ([['WGSL', WEBGPU_FLAGS], ['2-D canvas', NO_WEBGPU_FLAGS]])) {
  test(`a scan is shown radiologically whatever its affine, with its letters, and clicks land on the voxel drawn (${renderer})`, { timeout: 600_000 }, async () => {
    const browser = await launch([...flags]);
    try {
      const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
      assert.equal(await page.evaluate(() => window.sss.renderer), renderer === 'WGSL' ? 'WebGPU' : '2-D canvas');
      for (const affine of AFFINES) {
        const name = `marked-${affine.name}.nii`;
        const opened = await openFile(page, { name, buffer: markedDemo(affine.x, affine.y) });
        assert.deepEqual(opened.errors, [], name);
        assert.deepEqual(opened.codes, affine.codes, `${name}: voxel axes`);
        assert.equal(opened.lettersShown, true, `${name}: letters shown`);
        assert.deepEqual(opened.letters, { left: 'R', right: 'L', top: 'A', bottom: 'P' }, `${name}: letters`);
        assert.match(opened.info, new RegExp(`voxel axes toward ${affine.codes.join('')}`));

        // Where voxel (x, y)'s centre must be on the canvas: the slice fitted into the stage,
        // centred (zoom 1, no pan), in the displayed grid the affine gives.
        const [nx, ny] = /** @type {number[]} */ (opened.dims);
        await settled(page);
        const geometry = await page.evaluate(() => {
          const stage = /** @type {HTMLElement} */ (document.getElementById('stage'));
          const canvas = window.sssRenderer.canvas;
          const rect = stage.getBoundingClientRect();
          const dpr = window.devicePixelRatio || 1;
          return { w: Math.round(stage.clientWidth * dpr), h: Math.round(stage.clientHeight * dpr),
            canvas: [canvas.width, canvas.height], left: rect.left, top: rect.top, dpr };
        });
        assert.deepEqual(geometry.canvas, [geometry.w, geometry.h], 'the canvas fills the stage');
        const transposed = affine.name === 'prs';
        const [shownW, shownH] = transposed ? [ny, nx] : [nx, ny];
        const scale = Math.min(geometry.w / shownW, geometry.h / shownH);
        /** @param {number} x @param {number} y voxel (pixel centre at +0.5) */
        const canvasOf = (x, y) => {
          const [u, v] = affine.shownAt(x + 0.5, y + 0.5, nx, ny);
          return { x: (geometry.w - shownW * scale) / 2 + u * scale, y: (geometry.h - shownH * scale) / 2 + v * scale };
        };
        /** @param {number} x @param {number} y voxel */
        const screenOf = (x, y) => {
          const c = canvasOf(x, y);
          return { x: geometry.left + c.x / geometry.dpr, y: geometry.top + c.y / geometry.dpr };
        };
        // The marker is drawn there (white), and not at the mirrored corners.
        /** @param {{x: number, y: number}[]} points canvas positions @returns {Promise<number[][]>} */
        const rgbAt = (points) => page.evaluate(async (points) => {
          const { width, rgba } = await window.sssRenderer.readPixels();
          return points.map((p) => {
            const i = (Math.floor(p.y) * width + Math.floor(p.x)) * 4;
            return [rgba[i], rgba[i + 1], rgba[i + 2]];
          });
        }, points);
        const half = MARK / 2;
        const [mark, ...others] = await rgbAt([canvasOf(half, half), canvasOf(nx - half, half),
          canvasOf(half, ny - half), canvasOf(nx - half, ny - half)]);
        assert.ok(mark.every((c) => c >= 250), `${name} (${renderer}): the marker at its corner: ${mark}`);
        for (const o of others) assert.ok(Math.max(...o) < 250, `${name} (${renderer}): no marker at another corner: ${o}`);

        // A brush click at voxel (40, 30)'s screen position paints a disc centred on it.
        const [px, py] = [40, 30];
        await page.evaluate(() => {
          const api = window.sss.api;
          api.selectClass(1);
          api.setTool('brush');
        });
        const at = screenOf(px, py);
        await page.mouse.click(at.x, at.y);
        const painted = await page.evaluate(() => {
          const s = window.sss;
          const [nx, ny] = /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims;
          const z = s.z;
          const labels = /** @type {Uint8Array} */ (s.labels);
          /** @type {number[][]} */ const voxels = [];
          for (let y = 0; y < ny; y++) {
            for (let x = 0; x < nx; x++) if (labels[(z * ny + y) * nx + x] === 1) voxels.push([x, y]);
          }
          return { voxels, radius: s.lastPaint?.radius };
        });
        assert.ok(painted.voxels.length > 0, `${name}: the click painted`);
        const cx = painted.voxels.reduce((s, [x]) => s + x, 0) / painted.voxels.length;
        const cy = painted.voxels.reduce((s, [, y]) => s + y, 0) / painted.voxels.length;
        assert.ok(Math.abs(cx - px) < 0.01 && Math.abs(cy - py) < 0.01,
          `${name} (${renderer}): the disc is centred on voxel (${px}, ${py}), not (${cx}, ${cy})`);
        const [drawn] = await rgbAt([canvasOf(px, py)]);
        assert.ok(Math.max(...drawn) - Math.min(...drawn) > 40, `${name} (${renderer}): the paint is drawn under the pointer: ${drawn}`);

        if (transposed) {
          // A box dragged from voxel (20, 50) to voxel (35, 60) with the prompt tool.
          await page.evaluate(() => window.sss.api.setTool('prompt'));
          const [a, b] = [screenOf(20, 50), screenOf(35, 60)];
          await page.mouse.move(a.x, a.y);
          await page.mouse.down();
          await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2);
          await page.mouse.move(b.x, b.y);
          await page.mouse.up();
          const box = await page.evaluate(() => window.sss.prompts?.find((p) => p.class === 1)?.prompt.box_xyxy);
          assert.deepEqual(box, [20, 50, 35, 60], `${name} (${renderer}): the box is the voxels dragged between`);
          // The box's slice is previewed (SAM-2 on it): wait for it to end before going on.
          await page.waitForFunction(() => {
            const s = window.sss;
            return s.lastPreview || s.errors.length;
          }, null, { timeout: 120_000 });
          assert.deepEqual(await page.evaluate(() => window.sss.errors), [], 'the preview ran');
        }
        await page.evaluate(() => window.sss.api.selectClass(null));
      }
      assert.deepEqual(errors, [], 'no page error');
    } finally {
      await browser.close();
    }
  });
}
