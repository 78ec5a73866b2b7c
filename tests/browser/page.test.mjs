// End-to-end: the page segments the demo scan's shown slice with the model on WebGPU
// (SwiftShader) and draws slice and overlay with the WGSL renderer; with WebGPU unavailable it
// does both on the CPU (flex in wasm, 2-D canvas); both masks agree; the overlay is checked on
// the pixels each renderer drew; nothing leaves the page's origin.

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
 */
async function segmentDemo(flags, query, expectedBackend, expectedRenderer) {
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
    assert.equal(await colouredPixels(page), 0, 'no overlay before segmenting');

    const mask = await segmentShownSlice(page);
    assert.equal(mask.width, state.dims[0]);
    assert.equal(mask.height, state.dims[1]);
    assert.equal(mask.labels.length, state.dims[0] * state.dims[1]);
    const foreground = mask.labels.filter((/** @type {number} */ l) => l > 0).length;
    assert.ok(foreground > 0, 'the mask has foreground');
    assert.ok(mask.labels.every((/** @type {number} */ l) => l < state.manifest.classes.length));
    await page.waitForTimeout(300);
    const coloured = await colouredPixels(page);
    assert.ok(coloured > 50, `the overlay is drawn (${coloured} coloured pixels)`);
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

test('segments the demo slice on WebGPU and draws it with WGSL', { timeout: 600_000 }, async () => {
  masks.webgpu = await segmentDemo(WEBGPU_FLAGS, '', 'WebGPU', 'WebGPU');
});

test('draws with WGSL while the model runs on the CPU (?model=cpu)', { timeout: 600_000 }, async () => {
  await segmentDemo(WEBGPU_FLAGS, '?model=cpu', 'flex (CPU)', 'WebGPU');
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
