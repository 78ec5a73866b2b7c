// The page's weights and the scan's modality. The page reads the catalog of weights
// (web/assets/weights/catalog.json), lists them, and when a scan opens whose intensities say
// another modality than the loaded weights' (CT in Hounsfield units vs MRI) it switches to
// catalog weights of that modality and says so; when the user chose the weights, or the
// catalog has none of that modality, it says they do not fit instead of drawing confident
// nonsense. The CT scan is the demo brain-CT phantom (scripts/demo-data.sh); a catalog with
// CT weights is served through request interception (the CT weights are the cardiac weights
// under a CT manifest, with the component-vote clean-up: this tests the page's logic, not a
// model). After a segmentation the page says when the sizes of what the weights drew do not fit
// their training scans (the fit check, `predictor::fit`): a brain made MRI-like through the
// cardiac weights.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, components3d, launch, openPage, startServer, volumeAfter } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;

before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

const CT_SCAN = 'scan=assets/demo/demo-ct.nii.gz';

/** @param {import('playwright-core').Page} page */
function weightsState(page) {
  return page.evaluate(() => {
    const s = window.sss;
    return {
      scanModality: s.scanModality, modality: s.manifest?.modality, name: s.manifest?.name,
      note: s.fitNote, shown: document.getElementById('fit-note')?.textContent ?? '',
      listed: Array.from(/** @type {HTMLSelectElement} */ (document.getElementById('weights-choice')).options)
        .map((o) => o.textContent),
      chosen: /** @type {HTMLSelectElement} */ (document.getElementById('weights-choice')).value,
      errors: s.errors,
    };
  });
}

test('a CT scan with MRI weights the user chose: the page says they do not fit', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?weights=assets/weights/sss-cardiac.json&${CT_SCAN}`);
    const s = await weightsState(page);
    assert.equal(s.scanModality?.modality, 'ct', `the scan is taken for CT: ${s.scanModality?.reason}`);
    assert.equal(s.modality, 'mri', 'the chosen weights stay');
    assert.match(s.note, /looks like CT in Hounsfield units .*made for MRI: their masks would be meaningless/, s.note);
    assert.equal(s.shown, s.note, 'the note is on the page');
    assert.deepEqual(s.listed, ['Cardiac MRI (SSS, phantom-trained)', 'Brain CT hemorrhage (SSS, phantom-trained, experimental)'],
      'the catalog is listed');
    assert.match(s.note, /Choose the Brain CT hemorrhage .* weights above\./, s.note);
    assert.deepEqual([...errors, ...s.errors], [], 'no error');

    // The MRI demo with the same weights: no note.
    await page.goto(`${server.url}?weights=assets/weights/sss-cardiac.json`);
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 240_000 });
    const mri = await weightsState(page);
    assert.equal(mri.scanModality?.modality, 'mri', mri.scanModality?.reason);
    assert.equal(mri.note, '', 'MRI weights fit an MRI scan');
  } finally {
    await browser.close();
  }
});

/**
 * The classes in each 26-connected 3-D component of a label map's foreground (x fastest).
 * @param {ArrayLike<number>} labels
 * @param {[number, number, number]} dims
 * @returns {Set<number>[]}
 */
function componentClasses(labels, dims) {
  const { component, sizes } = components3d(labels, dims, () => true);
  /** @type {Set<number>[]} */ const out = sizes.map(() => new Set());
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 0) out[component[i]].add(labels[i]);
  return out;
}

test('the CT demo scan opens with the shipped brain-CT weights, says how good they are, and segments', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?${CT_SCAN}`);
    const s = await weightsState(page);
    const brain = JSON.parse(readFileSync(new URL('../../web/assets/weights/sss-brain-ct.json', import.meta.url), 'utf8'));
    assert.equal(s.name, brain.name, `switched to the brain-CT weights (${s.note})`);
    assert.equal(s.modality, 'ct');
    assert.match(s.note, /switched to the Brain CT hemorrhage .* weights\. Experimental: .* finds most bleeds .* wrong type/, s.note);
    assert.equal(s.shown, s.note, 'the note is on the page');
    const result = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual([...errors, ...result.errors], [], 'no error');
    assert.ok(result.labels?.some((/** @type {number} */ l) => l > 0), 'the weights draw a bleed on the demo scan');
  } finally {
    await browser.close();
  }
});

test('a CT scan switches to the catalog\'s CT weights; choosing MRI weights then warns', { timeout: 600_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
    const cardiac = JSON.parse(readFileSync(new URL('../../web/assets/weights/sss-cardiac.json', import.meta.url), 'utf8'));
    await context.route('**/assets/weights/catalog.json', (route) => route.fulfill({
      json: [
        { manifest: 'sss-cardiac.json', modality: 'mri', label: 'Cardiac MRI' },
        { manifest: 'ct-test.json', modality: 'ct', label: 'test CT' },
      ],
    }));
    await context.route('**/assets/weights/ct-test.json', (route) => route.fulfill({
      // With the lesion clean-up the export can set (`sss export --post-process component-vote`).
      json: { ...cardiac, modality: 'ct', name: 'test CT weights', model: { ...cardiac.model, post_process: 'component-vote' } },
    }));
    const page = await context.newPage();
    /** @type {string[]} */ const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${server.url}?${CT_SCAN}`);
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 240_000 });
    const s = await weightsState(page);
    assert.equal(s.name, 'test CT weights', `switched to the CT weights (${s.note})`);
    assert.match(s.note, /looks like CT in Hounsfield units .*switched to the test CT weights/, s.note);
    assert.match(s.chosen, /ct-test\.json$/, 'the list shows the weights in use');
    assert.deepEqual(s.listed, ['Cardiac MRI', 'test CT']);
    const result = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(result.errors, [], 'the switched weights segment the scan');
    assert.ok(result.labels?.length, 'a label map came back');
    // The clean-up ran in the page: every connected finding is of one class (natively, without
    // it, these weights draw 9 of their 36 findings on this scan as two or more classes).
    const dims = await page.evaluate(() => /** @type {NonNullable<typeof window.sss.scan>} */ (window.sss.scan).dims);
    const findings = componentClasses(/** @type {number[]} */ (result.labels), /** @type {[number, number, number]} */ (dims));
    assert.ok(findings.length > 1, `findings drawn: ${findings.length}`);
    assert.deepEqual(findings.filter((classes) => classes.size > 1), [], 'no finding drawn as two classes');
    const viewNote = await page.textContent('#view-note');
    assert.match(viewNote ?? '', /each connected finding takes the class most of it was drawn as/, viewNote ?? '');

    // The user picks the MRI weights: they stay, and the page says they do not fit.
    const chosen = (await page.$$eval('#weights-choice option', (os) => os.map((o) => /** @type {HTMLOptionElement} */ (o).value)))[0];
    await page.selectOption('#weights-choice', chosen);
    await page.waitForFunction(() => window.sss.manifest?.modality === 'mri' && !(window.sss.busy));
    const after = await weightsState(page);
    assert.match(after.note, /made for MRI: their masks would be meaningless here\. Choose the test CT weights above\./, after.note);
    assert.deepEqual(pageErrors, [], 'no uncaught page errors');
  } finally {
    await browser.close();
  }
});

/**
 * The CT demo scan's head with MRI-like intensities (air 0, bone 40, the rest
 * 3 × clamp(HU + 40, 0, 150): positive units, so the page takes it for MRI), as
 * `scripts/wrong-anatomy-volumes.py make` writes it: a brain the cardiac weights were not made for.
 */
function brainAsMri() {
  const ct = gunzipSync(readFileSync(new URL('../../web/assets/demo/demo-ct.nii.gz', import.meta.url)));
  const view = new DataView(ct.buffer, ct.byteOffset, ct.byteLength);
  assert.equal(view.getInt16(70, true), 16, 'the CT demo is float32');
  const offset = view.getFloat32(108, true);
  const out = Buffer.from(ct);
  const outView = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let o = offset; o + 4 <= ct.length; o += 4) {
    const hu = view.getFloat32(o, true);
    const v = hu < -200 ? 0 : hu > 300 ? 40 : 3 * Math.min(Math.max(hu + 40, 0), 150);
    outView.setFloat32(o, v, true);
  }
  return gzipSync(out);
}

test('a brain through the cardiac weights: the page says the scan does not fit them; a heart gets no warning', { timeout: 600_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
    const body = brainAsMri();
    await context.route('**/assets/demo/brain-mri.nii.gz', (route) => route.fulfill({ body, contentType: 'application/gzip' }));
    const page = await context.newPage();
    /** @type {string[]} */ const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const fitShown = () => page.evaluate(() => {
      const p = /** @type {HTMLElement} */ (document.getElementById('volume-fit'));
      return { text: p.textContent ?? '', hidden: p.hidden };
    });

    await page.goto(`${server.url}?weights=assets/weights/sss-cardiac.json&scan=assets/demo/brain-mri.nii.gz`);
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 240_000 });
    const s = await weightsState(page);
    assert.equal(s.scanModality?.modality, 'mri', `the brain is taken for MRI, so the modality check is silent: ${s.scanModality?.reason}`);
    assert.equal(s.note, '');
    const brain = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(brain.errors, [], 'no error');
    assert.ok(brain.lastVolume, 'a volume segmentation');
    const fit = brain.lastVolume.fit;
    assert.ok(fit, 'the fit check ran');
    assert.equal(fit.fits, false, `the fit check refuses the brain: ${JSON.stringify(fit.classes)}`);
    assert.ok(fit.classes.some((c) => c.volume_ml > 0), 'the cardiac weights did draw something on it');
    assert.match(fit.message, /^This scan does not look like the scans these weights learned from/, fit.message);
    // The volumes it reports are the label map's.
    const spacing = await page.evaluate(() => /** @type {NonNullable<typeof window.sss.scan>} */ (window.sss.scan).spacing);
    const voxelMl = spacing[0] * spacing[1] * spacing[2] / 1000;
    for (const c of fit.classes) {
      const n = brain.labels?.filter((/** @type {number} */ l) => l === c.label).length ?? 0;
      assert.ok(Math.abs(c.volume_ml - n * voxelMl) < 1e-6, `${c.name}: ${c.volume_ml} ml vs ${n} voxels`);
    }
    assert.deepEqual(await fitShown(), { text: fit.message, hidden: false }, 'the warning is on the page');

    // The heart demo with the same weights: within every range, nothing said.
    await page.goto(`${server.url}?weights=assets/weights/sss-cardiac.json`);
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 240_000 });
    const heart = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(heart.errors, []);
    assert.ok(heart.lastVolume?.fit, 'the fit check ran');
    assert.equal(heart.lastVolume.fit.fits, true, JSON.stringify(heart.lastVolume.fit.classes));
    assert.deepEqual(heart.lastVolume.fit.classes.map((c) => c.verdict), ['within', 'within', 'within']);
    assert.deepEqual(await fitShown(), { text: '', hidden: true });
    assert.deepEqual(pageErrors, [], 'no uncaught page errors');
  } finally {
    await browser.close();
  }
});
