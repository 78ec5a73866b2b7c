// End-to-end: the page segments the demo scan's shown slice with the model on WebGPU
// (SwiftShader) and, with WebGPU unavailable, on the CPU fallback; both masks agree; the WGSL
// renderer draws slice and overlay; nothing leaves the page's origin.
//
// On SwiftShader the page holds one WebGPU device only (a second one in the page destroyed the
// worker's model device), so with the model on WebGPU the slice is drawn on the 2-D canvas
// there; the WGSL renderer is tested with the model on the CPU (`?model=cpu`).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  NO_WEBGPU_FLAGS, WEBGPU_FLAGS, colouredPixels, launch, openPage, segmentShownSlice, startServer,
} from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;
/** @type {Record<string, any>} */ const masks = {};

before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

/**
 * @param {string[]} flags
 * @param {string} query
 * @param {string} expectedBackend
 * @param {string} expectedRenderer
 * @param {boolean} [checkPixels] whether the screenshot must show the overlay
 */
async function segmentDemo(flags, query, expectedBackend, expectedRenderer, checkPixels = true) {
  const browser = await launch(flags);
  try {
    const { page, errors, requests } = await openPage(browser, server.url + query);
    const state = await page.evaluate(() => {
      const s = /** @type {any} */ (window).sss;
      return { backend: s.backend, reason: s.fallbackReason, dims: s.scan?.dims, manifest: s.manifest,
        renderer: s.renderer, rendererReason: s.rendererReason };
    });
    assert.equal(state.backend, expectedBackend, `backend (fallback reason: ${state.reason})`);
    assert.equal(state.renderer, expectedRenderer, `renderer (${state.rendererReason})`);
    assert.ok(state.dims, 'the demo scan is open');
    assert.ok(state.manifest, 'the weights are loaded');
    if (checkPixels) assert.equal(await colouredPixels(page), 0, 'no overlay before segmenting');

    const mask = await segmentShownSlice(page);
    assert.equal(mask.width, state.dims[0]);
    assert.equal(mask.height, state.dims[1]);
    assert.equal(mask.labels.length, state.dims[0] * state.dims[1]);
    const foreground = mask.labels.filter((/** @type {number} */ l) => l > 0).length;
    assert.ok(foreground > 0, 'the mask has foreground');
    assert.ok(mask.labels.every((/** @type {number} */ l) => l < state.manifest.classes.length));
    await page.waitForTimeout(300);
    const coloured = checkPixels ? await colouredPixels(page) : 'not read:';
    if (checkPixels) assert.ok(coloured > 50, `the overlay is drawn (${coloured} coloured pixels)`);
    console.log(`model on ${expectedBackend}, drawn with ${expectedRenderer}: slice ${mask.z} ` +
      `segmented in ${mask.ms.toFixed(0)} ms (first run, shaders included), ` +
      `${foreground} foreground pixels, ${coloured} coloured pixels drawn`);

    assert.deepEqual(errors, [], 'no page errors');
    const origin = new URL(server.url).origin;
    const foreign = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'the page requests nothing from other origins');
    return mask;
  } finally {
    await browser.close();
  }
}

test('segments the demo slice with the model on WebGPU', { timeout: 600_000 }, async () => {
  masks.webgpu = await segmentDemo(WEBGPU_FLAGS, '', 'WebGPU', '2-D canvas');
});

// Not verified here: that the WGSL renderer's pixels show the slice. In headless Chromium on
// SwiftShader a WebGPU device on the page's main thread loses its instance ("A valid external
// Instance reference no longer exists" on mapAsync; the canvas stays blank), while the worker's
// device works (open problem, see the issue). This test checks only that the page chooses the
// WGSL renderer and logs no error.
test('chooses the WGSL renderer and logs no error', { timeout: 600_000 }, async () => {
  await segmentDemo(WEBGPU_FLAGS, '?model=cpu', 'flex (CPU)', 'WebGPU', false);
});

test('falls back to the CPU backend without WebGPU', { timeout: 600_000 }, async () => {
  masks.cpu = await segmentDemo(NO_WEBGPU_FLAGS, '', 'flex (CPU)', '2-D canvas');
});

test('WebGPU and CPU masks agree', () => {
  assert.ok(masks.webgpu && masks.cpu, 'both backends produced a mask');
  assert.equal(masks.webgpu.z, masks.cpu.z);
  const n = masks.cpu.labels.length;
  let same = 0;
  for (let i = 0; i < n; i++) if (masks.webgpu.labels[i] === masks.cpu.labels[i]) same++;
  assert.ok(same / n > 0.995, `agreement ${(100 * same / n).toFixed(2)} %`);
});
