// Seeing what the model drew: each class's overlay can be hidden and shown again from the
// Classes list (WGSL and 2-D canvas alike; the label map itself is unchanged), and the
// window/level presets set the window in the scan's units (CT brain 40/80 on the CT demo,
// "auto" back to the scan's percentiles, a drag makes it "custom").

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, WEBGPU_FLAGS, launch, openPage, startServer, volumeAfter } from './harness.mjs';

/** @typedef {import('../../web/js/protocol.js').Manifest} Manifest */

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

/**
 * Pixels of the rendered slice in each class's colour (within 40 of it), read back from the
 * renderer, by label.
 * @param {import('playwright-core').Page} page
 */
function pixelsByClass(page) {
  return page.evaluate(async () => {
    const s = window.sss;
    // After the frame the last change asked for: main.js draws in requestAnimationFrame and fits
    // the view to the canvas there, and readPixels renders with the view as it stands. Read
    // before that frame (a loaded machine), a class's pixels could move (seen once: class 3 drew
    // 7,603 pixels instead of 7,879 right after class 1 was hidden).
    await new Promise((done) => requestAnimationFrame(() => done(null)));
    const { rgba } = await window.sssRenderer.readPixels();
    /** @type {Record<number, number>} */ const counts = {};
    for (const c of /** @type {Manifest} */ (s.manifest).classes) {
      if (c.label === 0) continue;
      counts[c.label] = 0;
    }
    for (let i = 0; i < rgba.length; i += 4) {
      const [r, g, b] = [rgba[i], rgba[i + 1], rgba[i + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) <= 40) continue; // grey: the scan
      let best = 0;
      let bestD = Infinity;
      for (const c of /** @type {Manifest} */ (s.manifest).classes) {
        if (c.label === 0) continue;
        const d = Math.abs(r - c.color[0]) + Math.abs(g - c.color[1]) + Math.abs(b - c.color[2]);
        if (d < bestD) { bestD = d; best = c.label; }
      }
      counts[best]++;
    }
    return counts;
  });
}

for (const [renderer, flags] of /** @type {const} */ ([['WGSL', WEBGPU_FLAGS], ['2-D canvas', NO_WEBGPU_FLAGS]])) {
  test(`classes hide and show on the ${renderer} renderer; the label map stays`, { timeout: 300_000 }, async () => {
    const browser = await launch([...flags]);
    try {
      const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
      const result = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
      assert.deepEqual(result.errors, [], 'segmented');
      // The slice with the most foreground.
      const [nx, ny, nz] = result.dims;
      const labels = /** @type {number[]} */ (result.labels);
      let z = 0;
      let most = -1;
      for (let k = 0; k < nz; k++) {
        let n = 0;
        for (let i = k * nx * ny; i < (k + 1) * nx * ny; i++) if (labels[i] > 0) n++;
        if (n > most) { most = n; z = k; }
      }
      await page.evaluate((z) => window.sss.api.goToSlice(z), z);
      const all = await pixelsByClass(page);
      for (const label of [1, 2, 3]) assert.ok(all[label] > 0, `class ${label} is drawn: ${JSON.stringify(all)}`);

      await page.click('#legend input[data-label="1"]');
      const without1 = await pixelsByClass(page);
      assert.equal(without1[1], 0, `class 1 hidden: ${JSON.stringify(without1)}`);
      assert.equal(without1[3], all[3], 'class 3 as it was');
      await page.evaluate(() => { const api = window.sss.api; api.setClassShown(2, false); api.setClassShown(3, false); });
      const none = await pixelsByClass(page);
      assert.deepEqual([none[1], none[2], none[3]], [0, 0, 0], 'every class hidden');
      assert.equal(await page.isChecked('#legend input[data-label="3"]'), false, 'the list says so');
      for (const label of [1, 2, 3]) await page.check(`#legend input[data-label="${label}"]`);
      assert.deepEqual(await pixelsByClass(page), all, 'shown again, as before');
      const after = await page.evaluate(() => Array.from(/** @type {Uint8Array} */ (window.sss.labels)));
      assert.ok(after.every((/** @type {number} */ l, /** @type {number} */ i) => l === labels[i]), 'the label map is unchanged');
      assert.deepEqual(errors, [], 'no error');
    } finally {
      await browser.close();
    }
  });
}

test('window/level presets: CT brain on the CT demo, auto back to the scan\'s own, a drag is custom', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?scan=assets/demo/demo-ct.nii.gz`);
    const state = () => page.evaluate(() => {
      const s = window.sss;
      return { window: s.window, auto: s.autoWindow, preset: /** @type {HTMLSelectElement} */ (document.getElementById('window-preset')).value };
    });
    const start = await state();
    assert.equal(start.preset, 'auto');
    assert.deepEqual(start.window, start.auto, 'a scan opens with its own window');
    await page.selectOption('#window-preset', '40/80');
    const brain = await state();
    assert.deepEqual(brain.window, { low: 0, high: 80 }, 'level 40, width 80 (HU)');
    await page.selectOption('#window-preset', '600/2800');
    assert.deepEqual((await state()).window, { low: -800, high: 2000 }, 'bone');
    await page.selectOption('#window-preset', 'auto');
    assert.deepEqual((await state()).window, start.auto, 'auto: the scan\'s percentiles again');
    await page.fill('#width', '100');
    await page.dispatchEvent('#width', 'input');
    assert.equal((await state()).preset, 'custom', 'moving the window makes it custom');
    assert.deepEqual(errors, [], 'no error');
  } finally {
    await browser.close();
  }
});
