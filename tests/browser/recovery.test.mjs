// Bad input in the page: weights whose bytes differ from their manifest (one byte flipped on
// the way, through request interception) are refused with the sha256 message, the page stays
// usable (the demo scan opens, Segment stays off without weights) and nothing crashes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, launch, startServer } from './harness.mjs';

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
    await page.waitForFunction(() => /** @type {any} */ (window).sss?.ready, null, { timeout: 240_000 });
    assert.ok(flipped >= 1, 'the weights went through the interception');
    const state = await page.evaluate(() => {
      const s = /** @type {any} */ (window).sss;
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
