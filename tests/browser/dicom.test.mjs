// DICOM series in the page: the demo scan written as a DICOM series (`sss to-dicom`, made by
// scripts/demo-data.sh into web/assets/demo/demo-dicom/) opens from picked files in a shuffled
// order and from a folder, with a file that is not DICOM among them (left out and named); it
// has the NIfTI demo's grid, geometry and values (to the 16-bit quantisation the writer
// uses), segments as well as the NIfTI demo (tests/demo-dice.json), and Save labels writes the
// label map in the geometry the series defines. Files that hold no DICOM series are refused in
// words and the open scan stays.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, classDice, launch, openPage, readNiftiLabels, startServer, volumeAfter } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

const DEMO = new URL('../../web/assets/demo/', import.meta.url);
const SERIES = new URL('demo-dicom/', DEMO);

/** The sform rows of a NIfTI-1 file (gzip or not), as 12 numbers. */
function sform(/** @type {Buffer} */ bytes) {
  const raw = bytes[0] === 0x1f ? gunzipSync(bytes) : bytes;
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return Array.from({ length: 12 }, (_, i) => view.getFloat32(280 + 4 * i, true));
}

/** @param {import('playwright-core').Page} page */
function scanState(page) {
  return page.evaluate(() => {
    const s = window.sss;
    return {
      name: s.scan?.name, dims: s.scan?.dims, spacing: s.scan?.spacing, notes: s.scanNotes,
      voxels: s.scan ? Array.from(s.scan.voxels) : [], errors: s.errors, info: document.getElementById('scan-info')?.textContent ?? '',
    };
  });
}

test('a DICOM series opens from shuffled files and from a folder, segments like the NIfTI demo, and saves in its geometry', { timeout: 600_000 }, async () => {
  const files = readdirSync(SERIES).filter((f) => f.endsWith('.dcm')).sort();
  assert.ok(files.length > 1, `${SERIES.pathname} holds the demo series (scripts/demo-data.sh)`);
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
    const nifti = await scanState(page);
    const niftiRun = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(niftiRun.errors, []);

    // Picked files: reversed order, a NIfTI file among them.
    const picked = [...files].reverse().map((f) => new URL(f, SERIES).pathname);
    picked.splice(2, 0, new URL('demo_gt.nii.gz', DEMO).pathname);
    await page.setInputFiles('#file', picked);
    await page.waitForFunction((n) => window.sss.scan?.name !== n && !(window.sss.busy), nifti.name, { timeout: 120_000 });
    const dicom = await scanState(page);
    assert.deepEqual(dicom.errors, []);
    assert.deepEqual(dicom.dims, nifti.dims, 'the grid of the NIfTI demo');
    assert.ok(dicom.spacing && nifti.spacing, 'both scans have a voxel spacing');
    const niftiSpacing = nifti.spacing;
    dicom.spacing.forEach((s, i) => assert.ok(Math.abs(s - niftiSpacing[i]) < 1e-4,
      `spacing ${dicom.spacing} vs ${niftiSpacing}`));
    const range = nifti.voxels.reduce((m, v) => Math.max(m, v), -Infinity) - nifti.voxels.reduce((m, v) => Math.min(m, v), Infinity);
    const worst = dicom.voxels.reduce((m, v, i) => Math.max(m, Math.abs(v - nifti.voxels[i])), 0);
    assert.ok(worst <= range / 65_000, `values within the writer's quantisation (${worst} of a ${range} range)`);
    assert.equal(dicom.notes.length, 1, dicom.notes.join('; '));
    assert.match(dicom.notes[0], /1 file\(s\) are not DICOM and were left out: demo_gt\.nii\.gz/);
    assert.match(dicom.info, /dicom-series: .* voxels.*not DICOM/);

    const run = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(run.errors, []);
    const expected = JSON.parse(readFileSync(new URL('../demo-dice.json', import.meta.url), 'utf8'));
    const gt = readNiftiLabels(new URL('demo_gt.nii.gz', DEMO).pathname).labels;
    for (const c of [1, 2, 3]) {
      const d = classDice(/** @type {number[]} */ (run.labels), gt, c);
      const same = classDice(/** @type {number[]} */ (run.labels), /** @type {number[]} */ (niftiRun.labels), c);
      console.log(`DICOM demo, class ${c}: Dice ${d.toFixed(4)} against the truth, ${same.toFixed(4)} against the NIfTI demo's masks`);
      assert.ok(d >= expected.full[c - 1] - expected.margin, `class ${c}: Dice ${d}`);
      assert.ok(same >= 0.98, `class ${c} as from the NIfTI file: ${same}`);
    }

    // Save labels: the series' geometry, which is the NIfTI demo's.
    const [saved] = await Promise.all([page.waitForEvent('download'), page.click('#save-labels')]);
    assert.equal(saved.suggestedFilename(), 'dicom-series_labels.nii.gz');
    const path = /** @type {string} */ (await saved.path());
    const want = sform(readFileSync(new URL('demo.nii.gz', DEMO)));
    sform(readFileSync(path)).forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-4, `sform ${i}: ${v} vs ${want[i]}`));
    assert.deepEqual(readNiftiLabels(path).labels, Uint8Array.from(/** @type {number[]} */ (run.labels)), 'the labels the page shows');

    // The same series as a folder.
    await page.setInputFiles('#folder', SERIES.pathname);
    await page.waitForFunction(() => window.sss.scan?.name === 'demo-dicom' && !(window.sss.busy), null, { timeout: 120_000 });
    const folder = await scanState(page);
    assert.deepEqual(folder.dims, nifti.dims);
    assert.deepEqual(folder.voxels, dicom.voxels, 'the same voxels as from the files');
    assert.deepEqual(folder.notes, []);
    assert.deepEqual([...errors, ...folder.errors], [], 'no error');
  } finally {
    await browser.close();
  }
});

test('files without a DICOM series are refused in words; the open scan stays', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page } = await openPage(browser, `${server.url}?model=cpu`);
    const before = await scanState(page);
    await page.setInputFiles('#file', [
      { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('not a scan') },
      { name: 'b.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(300) },
    ]);
    await page.waitForFunction(() => window.sss.errors.length > 0, null, { timeout: 60_000 });
    const after = await scanState(page);
    const refusal = /** @type {string} */ (after.errors.at(-1)); // the wait above saw an error
    assert.match(refusal, /Cannot open DICOM series \(2 files\): .*none of the 2 files is a DICOM image/, refusal);
    assert.equal(after.name, before.name, 'the demo scan stays open');
    assert.deepEqual(after.dims, before.dims);
  } finally {
    await browser.close();
  }
});
