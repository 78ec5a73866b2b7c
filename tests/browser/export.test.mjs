// Taking the work home: after a volume segmentation, "Save labels" downloads the label map as
// `.nii.gz` in the opened scan's own header (every header byte the scan had, but those that
// describe the values: datatype, bitpix, data offset, scaling, calibration), with the labels
// the page shows; "Save prompts" downloads the prompts in the file format `sss segment` writes
// and its `--use-prompts` reads. Nothing is uploaded: the files come from blob: URLs.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, launch, openPage, readNiftiLabels, startServer, volumeAfter } from './harness.mjs';

/** @typedef {import('../../web/js/protocol.js').Manifest} Manifest */

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

/** Header bytes the export may change (NIfTI-1): datatype and bitpix, vox_offset, scl_slope and scl_inter, cal_max and cal_min. */
const VALUE_FIELDS = [[70, 74], [108, 120], [124, 132]];

test('Save labels and Save prompts download the segmentation in the scan\'s own geometry', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors, requests } = await openPage(browser, `${server.url}?model=cpu`);
    assert.ok(await page.isDisabled('#save-labels'), 'nothing to save before segmenting');
    const result = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(result.errors, [], 'segmented');
    const shown = /** @type {number[]} */ (result.labels);
    assert.ok(shown.some((l) => l > 0), 'the page has masks to save');

    const remote = () => requests.filter((u) => !u.startsWith('blob:')).length;
    const requestsBefore = remote();
    const [labelsFile] = await Promise.all([page.waitForEvent('download'), page.click('#save-labels')]);
    assert.equal(labelsFile.suggestedFilename(), 'demo_labels.nii.gz');
    const saved = readFileSync(/** @type {string} */ (await labelsFile.path()));
    const raw = gunzipSync(saved);
    const scan = gunzipSync(readFileSync(new URL('../../web/assets/demo/demo.nii.gz', import.meta.url)));
    const changed = [];
    for (let i = 0; i < 348; i++) if (raw[i] !== scan[i]) changed.push(i);
    const allowed = (/** @type {number} */ i) => VALUE_FIELDS.some(([a, b]) => i >= a && i < b);
    assert.ok(changed.every(allowed), `only the value fields changed, not bytes ${changed.filter((i) => !allowed(i))}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    assert.equal(view.getInt16(70, true), 2, 'uint8 labels');
    assert.equal(view.getFloat32(112, true), 1, 'no scaling');
    const { labels } = readNiftiLabels(/** @type {string} */ (await labelsFile.path()));
    assert.equal(labels.length, shown.length, 'every voxel');
    assert.ok(labels.every((l, i) => l === shown[i]), 'the labels the page shows');

    const [promptsFile] = await Promise.all([page.waitForEvent('download'), page.click('#save-prompts')]);
    assert.equal(promptsFile.suggestedFilename(), 'demo_prompts.json');
    const file = JSON.parse(readFileSync(/** @type {string} */ (await promptsFile.path()), 'utf8'));
    const state = await page.evaluate(() => {
      const s = window.sss;
      return { prompts: s.prompts, classes: /** @type {Manifest} */ (s.manifest).classes.map((c) => c.name) };
    });
    assert.deepEqual(file.prompts, state.prompts, 'the prompts in use');
    assert.deepEqual(file.class_names, state.classes);
    assert.equal(file.scan, 'demo.nii.gz');
    assert.ok(file.prompts.every((/** @type {any} */ p) => typeof p.class === 'number' && Array.isArray(p.prompt.box_xyxy)),
      'the shape sss segment --use-prompts reads');
    assert.equal(remote(), requestsBefore, 'saving asks the server for nothing');
    assert.deepEqual(errors, [], 'no error');
  } finally {
    await browser.close();
  }
});
