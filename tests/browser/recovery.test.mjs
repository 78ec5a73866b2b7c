// Recovery paths of the page. Weights whose bytes differ from their manifest (one byte flipped
// on the way, through request interception) are refused with the sha256 message, and the page
// stays usable (the demo scan opens, Segment stays off without weights). A model worker that
// dies on WebGPU (a test hook makes it throw, as a crash in wasm would) is restarted on the CPU,
// the page says why, and segmenting still returns masks.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, WEBGPU_FLAGS, countLabels, launch, openPage, startServer } from './harness.mjs';

/** @typedef {import('../../web/js/main.js').PageApi} PageApi */
/**
 * What `sss.api.rerun()` resolves to, and `segment()` with SSS weights.
 * @typedef {Awaited<ReturnType<PageApi['rerun']>>} Outcome
 */

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

test('weights with one flipped byte are refused by their sha256, in words', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
    let flipped = 0;
    await context.route('**/sss-cardiac.bpk', async (route) => {
      const response = await route.fetch();
      const body = Buffer.from(await response.body());
      body[body.length >> 1] ^= 0x01;
      flipped++;
      await route.fulfill({ response, body });
    });
    const page = await context.newPage();
    /** @type {string[]} */ const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(server.url);
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 240_000 });
    assert.ok(flipped >= 1, 'the weights went through the interception');
    const state = await page.evaluate(() => {
      const s = window.sss;
      return { manifest: s.manifest, dims: s.scan?.dims,
        error: document.querySelector('#error')?.textContent ?? '' };
    });
    assert.match(state.error, /could not start: .*does not match its manifest \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\)/,
      `the refusal says why: ${state.error}`);
    assert.ok(!state.manifest, 'no weights are in use');
    assert.ok(state.dims, 'the demo scan still opens');
    assert.ok(await page.isDisabled('#segment'), 'Segment is off without weights');
    assert.deepEqual(pageErrors, [], 'no uncaught page errors (no panic across the wasm boundary)');
  } finally {
    await browser.close();
  }
});

test('the model worker dies on WebGPU mid-session: the page says why, restarts on the CPU and still segments', { timeout: 600_000 }, async () => {
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, server.url);
    const before = await page.evaluate(() => window.sss.backend);
    assert.equal(before, 'WebGPU', 'the model starts on WebGPU');
    await page.evaluate(() => window.sss.api.crashWorkerForTest());
    // The default weights are SSS: segment() resolves to the volume segmentation's outcome.
    const result = /** @type {Outcome} */ (await page.evaluate(async () => window.sss.api.segment()));
    assert.ok(result.ok, `segmentation after the crash: ${JSON.stringify(result)}`);
    const state = await page.evaluate(() => {
      const s = window.sss;
      return { backend: s.backend, reason: s.fallbackReason, labels: Array.from(s.labels ?? []),
        error: document.querySelector('#error')?.textContent ?? '',
        dims: /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims };
    });
    assert.notEqual(state.backend, 'WebGPU', `restarted on the CPU (${state.backend})`);
    assert.match(state.reason ?? '', /WebGPU failed: .*crash requested by a test/, 'the backend line says why');
    assert.match(state.error, /WebGPU failed \(.*crash requested by a test.*\); the model continues on the CPU/,
      `the message says why: ${state.error}`);
    assert.equal(state.labels.length, state.dims[0] * state.dims[1] * state.dims[2], 'masks for the volume');
    const counts = countLabels(state.labels, 4);
    assert.ok(counts.slice(1).every((c) => c > 0), `every class segmented on the CPU (${counts})`);
    assert.deepEqual(errors.filter((e) => !e.includes('crash requested by a test')), [], 'no other page errors');
  } finally {
    await browser.close();
  }
});
