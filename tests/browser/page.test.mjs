// End-to-end. Slice network (?weights=…slice-net…): the page segments the demo scan's shown
// slice with the model on WebGPU (SwiftShader) and draws slice and overlay with the WGSL
// renderer; with WebGPU unavailable it does both on the CPU (flex in wasm, 2-D canvas); both
// masks agree; the overlay is checked on the pixels each renderer drew; nothing leaves the
// page's origin. SSS (the default weights): PCSW prompts and the volume's masks on WebGPU, the
// prompts drawn over the slice; editing prompts (panel, mouse) and re-running; a bad prompt is
// refused with a message and the masks stay; the overlay shows SAM-2's masks or the coarse
// head's (control, key C, API) and slice keys work after a checkbox; SAM-2's masks are shown
// slice by slice as they come, and Stop (button, Esc, API) ends a run early, keeping the slices
// done; WebGPU and CPU volumes agree per class, and each scores the demo's ground truth as the
// native test of the same weights measured (tests/demo-dice.json, less its margin) and agrees
// with native `sss segment`'s label map of the same scan on ≥ 99.5 % of voxels.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  NO_WEBGPU_FLAGS, SLICE_NET, WEBGPU_FLAGS, classDice, colouredPixels, components3d, countLabels, drawn,
  launch, openPage, promptLayerPixels, readNiftiLabels, screenOf, segmentShownSlice, startServer,
  volumeAfter,
} from './harness.mjs';

/** @typedef {import('../../web/js/protocol.js').ClassPrompt} ClassPrompt */
/** @typedef {import('../../web/js/protocol.js').ManifestClass} ManifestClass */
/** @typedef {import('../../web/js/sss-panel.js').MaskView} MaskView */
/** A volume segmentation's outcome. @typedef {Awaited<ReturnType<typeof volumeAfter>>} Volume */
/**
 * A volume segmentation whose prompts and label map came (checked before it is kept).
 * @typedef {Volume & {prompts: ClassPrompt[], labels: number[]}} Segmented
 */

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;
/** @type {Record<string, any>} */ const masks = {};
/** SSS volume results by backend, for the agreement test. */
/** @type {Record<string, Segmented>} */ const volumes = {};

before(async () => { server = await startServer(); });

/**
 * The URLs asked for outside the page's origin (data: URLs are not).
 * @param {string[]} requests
 */
function foreignRequests(requests) {
  const origin = new URL(server.url).origin;
  return requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:'));
}
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
      const s = window.sss;
      return { backend: s.backend, reason: s.fallbackReason, dims: s.scan?.dims, manifest: s.manifest,
        renderer: s.renderer, rendererReason: s.rendererReason };
    });
    assert.equal(state.backend, expectedBackend, `backend (fallback reason: ${state.reason})`);
    assert.equal(state.renderer, expectedRenderer, `renderer (${state.rendererReason})`);
    assert.ok(state.dims, 'the demo scan is open');
    assert.ok(state.manifest, 'the weights are loaded');
    assert.equal(await page.evaluate(() => window.sss.kind), 'slice-net');
    assert.ok(await page.isHidden('#prompts-section'), 'no prompts panel for a slice network');
    assert.ok(await page.isHidden('#mask-view'), 'no mask view control for a slice network');
    assert.equal(await colouredPixels(page), 0, 'no overlay before segmenting');

    const mask = await segmentShownSlice(page);
    assert.equal(mask.width, state.dims[0]);
    assert.equal(mask.height, state.dims[1]);
    assert.equal(mask.labels.length, state.dims[0] * state.dims[1]);
    const foreground = mask.labels.filter((/** @type {number} */ l) => l > 0).length;
    assert.ok(foreground > 0, 'the mask has foreground');
    const classCount = state.manifest.classes.length;
    assert.ok(mask.labels.every((/** @type {number} */ l) => l < classCount));
    await drawn(page);
    const coloured = await colouredPixels(page);
    assert.ok(coloured > 50, `the overlay is drawn (${coloured} coloured pixels)`);
    console.log(`model on ${expectedBackend}, drawn with ${expectedRenderer}: slice ${mask.z} ` +
      `segmented in ${mask.ms.toFixed(0)} ms (first run, shaders included), ` +
      `${foreground} foreground pixels, ${coloured} coloured pixels drawn`);

    assert.deepEqual(errors, [], 'no page errors');
    assert.deepEqual(foreignRequests(requests), [], 'the page requests nothing from other origins');
    return mask;
  } finally {
    await browser.close();
  }
}

test('segments the demo slice on WebGPU and draws it with WGSL', { timeout: 600_000 }, async () => {
  masks.webgpu = await segmentDemo(WEBGPU_FLAGS, SLICE_NET, 'WebGPU', 'WebGPU');
});

test('draws with WGSL while the model runs on the CPU (?model=cpu)', { timeout: 600_000 }, async () => {
  await segmentDemo(WEBGPU_FLAGS, `${SLICE_NET}&model=cpu`, 'flex (CPU)', 'WebGPU');
});

test('falls back to the CPU backend without WebGPU', { timeout: 600_000 }, async () => {
  masks.cpu = await segmentDemo(NO_WEBGPU_FLAGS, SLICE_NET, 'flex (CPU)', '2-D canvas');
});

test('WebGPU and CPU masks agree', () => {
  assert.ok(masks.webgpu && masks.cpu, 'both backends produced a mask');
  assert.equal(masks.webgpu.z, masks.cpu.z);
  const n = masks.cpu.labels.length;
  let same = 0;
  for (let i = 0; i < n; i++) if (masks.webgpu.labels[i] === masks.cpu.labels[i]) same++;
  assert.ok(same / n > 0.995, `agreement ${(100 * same / n).toFixed(2)} %`);
});

// ---- SSS (the default weights) ----

/**
 * Opens the page with the default (SSS) weights and checks what start-up set.
 * @param {import('playwright-core').Browser} browser
 * @param {string} query
 * @param {string} backend
 * @param {string} rendererKind
 */
async function openSss(browser, query, backend, rendererKind) {
  const opened = await openPage(browser, server.url + query);
  const state = await opened.page.evaluate(() => {
    const s = window.sss;
    return { kind: s.kind, backend: s.backend, reason: s.fallbackReason, renderer: s.renderer,
      dims: s.scan?.dims, classes: s.manifest?.classes, errors: s.errors };
  });
  assert.equal(state.kind, 'sss', `SSS weights are the default (${state.errors.join('; ')})`);
  assert.equal(state.backend, backend, `backend (fallback reason: ${state.reason})`);
  assert.equal(state.renderer, rendererKind);
  assert.ok(state.dims, 'the demo scan is open');
  assert.ok(state.classes, 'the weights are loaded');
  // dims and classes as checked: present.
  return { ...opened, ...state, dims: state.dims, classes: state.classes };
}

/**
 * Checks PCSW's prompts: one per foreground class, each on an existing slice with its box and
 * point inside it; for the demo scan every class is found.
 * @param {ClassPrompt[]} prompts
 * @param {ManifestClass[]} classes
 * @param {number[]} dims
 */
function checkAutoPrompts(prompts, classes, dims) {
  const [nx, ny, nz] = dims;
  const labels = classes.filter((c) => c.label > 0).map((c) => c.label);
  assert.deepEqual(prompts.map((p) => p.class).sort(), labels, 'one prompt per class');
  for (const { class: c, prompt } of prompts) {
    const kind = typeof prompt.source === 'string' ? prompt.source : Object.keys(prompt.source)[0];
    assert.ok(['window', 'fallback', 'component'].includes(kind), `class ${c} found by PCSW (${JSON.stringify(prompt.source)})`);
    assert.ok(prompt.slice >= 0 && prompt.slice < nz, `class ${c}: slice ${prompt.slice}`);
    const [x0, y0, x1, y1] = prompt.box_xyxy;
    assert.ok(x0 >= 0 && y0 >= 0 && x0 <= x1 && y0 <= y1 && x1 < nx && y1 < ny, `class ${c}: box ${prompt.box_xyxy}`);
    const [px, py] = prompt.point;
    assert.ok(px >= 0 && py >= 0 && px < nx && py < ny, `class ${c}: point ${prompt.point}`);
  }
}

/**
 * Slices with foreground in a label map (x fastest).
 * @param {number[]} labels
 * @param {number[]} dims
 */
function slicesWithForeground(labels, dims) {
  const n = dims[0] * dims[1];
  let slices = 0;
  for (let z = 0; z < dims[2]; z++) {
    if (labels.slice(z * n, (z + 1) * n).some((l) => l > 0)) slices++;
  }
  return slices;
}

/**
 * Checks the prompt layer draws the box and point of each prompt on the slice it lives on,
 * going there with the panel's slice button.
 * @param {import('playwright-core').Page} page
 * @param {ClassPrompt[]} prompts
 * @param {ManifestClass[]} classes
 */
async function checkPromptsDrawn(page, prompts, classes) {
  for (const { class: c, prompt } of prompts) {
    await page.click(`#prompts li[data-class="${c}"] .goto`);
    assert.equal(await page.evaluate(() => window.sss.z), prompt.slice);
    const colour = /** @type {ManifestClass} */ (classes.find((k) => k.label === c)).color;
    const drawn = await promptLayerPixels(page, colour);
    assert.ok(drawn > 20, `class ${c}'s prompt is drawn on slice ${prompt.slice} (${drawn} pixels)`);
  }
  // On a slice without prompts, nothing of it is drawn.
  const free = Array.from({ length: 64 }, (_, z) => z).find((z) => !prompts.some((p) => p.prompt.slice === z));
  const nz = await page.evaluate(() => /** @type {NonNullable<typeof window.sss.scan>} */ (window.sss.scan).dims[2]);
  if (free !== undefined && free < nz) {
    await page.evaluate((z) => window.sss.api.goToSlice(z), free);
    for (const c of classes.filter((k) => k.label > 0)) {
      assert.equal(await promptLayerPixels(page, c.color), 0, `no prompt drawn on slice ${free}`);
    }
  }
}

test('SSS on WebGPU: PCSW prompts, masks on every slice, prompts and masks drawn', { timeout: 1_200_000 }, async () => {
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { page, errors, requests, classes, dims } = await openSss(browser, '', 'WebGPU', 'WebGPU');
    assert.ok(await page.isVisible('#prompts-section'), 'the prompts panel is shown');
    assert.equal(await colouredPixels(page), 0, 'no overlay before segmenting');

    const started = Date.now();
    await page.evaluate(() => {
      const w = window;
      w.__sliceUpdates = [];
      addEventListener('sss-slice', (/** @type {any} */ e) => w.__sliceUpdates.push([e.detail.z, w.sss.masks.size]));
    });
    const result = await volumeAfter(page, () => page.click('#segment'), 1_100_000);
    const wall = Date.now() - started;
    assert.deepEqual(result.errors, [], 'no error');
    assert.ok(result.prompts && result.labels && result.lastVolume, 'prompts, masks and the run\'s figures');
    const updates = await page.evaluate(() => window.__sliceUpdates);
    assert.deepEqual(updates.map((/** @type {number[]} */ u) => u[1]), Array.from({ length: dims[2] }, (_, i) => i + 1),
      `the masks came slice by slice (${JSON.stringify(updates)})`);
    checkAutoPrompts(result.prompts, classes, dims);
    assert.deepEqual(result.prompts, result.autoPrompts, 'the prompts in use are PCSW\'s');
    assert.equal(result.masks, dims[2], 'a mask for every slice');
    assert.equal(result.labels.length, dims[0] * dims[1] * dims[2]);
    const counts = countLabels(result.labels, classes.length);
    for (const p of result.prompts) assert.ok(counts[p.class] > 0, `class ${p.class} is segmented (${counts})`);
    const withForeground = slicesWithForeground(result.labels, dims);
    assert.ok(withForeground >= dims[2] / 2, `foreground on ${withForeground} of ${dims[2]} slices`);
    const rows = await page.$$eval('#prompts li .source', (els) => els.map((e) => e.textContent));
    assert.equal(rows.length, classes.length - 1, 'a panel row per class');
    assert.ok(rows.every((t) => t?.startsWith('auto')), `panel sources: ${rows}`);

    // The middle slice's mask is drawn by the WGSL renderer.
    await page.evaluate((z) => window.sss.api.goToSlice(z), Math.floor(dims[2] / 2));
    await drawn(page);
    const coloured = await colouredPixels(page);
    assert.ok(coloured > 50, `the overlay is drawn (${coloured} coloured pixels)`);
    await checkPromptsDrawn(page, result.prompts, classes);

    const v = result.lastVolume;
    console.log(`SSS on WebGPU (SwiftShader), ${dims.join('×')}: ${(v.ms / 1000).toFixed(1)} s ` +
      `(coarse head + PCSW ${(v.promptsMs / 1000).toFixed(1)} s, propagation ${(v.propagateMs / 1000).toFixed(1)} s = ` +
      `${(v.propagateMs / dims[2] / 1000).toFixed(2)} s/slice; ${(wall / 1000).toFixed(1)} s as the test saw it), ` +
      `voxels per class ${counts}`);
    volumes.webgpu = /** @type {Segmented} */ (result);
    assert.deepEqual(errors, [], 'no page errors');
    assert.deepEqual(foreignRequests(requests), [], 'the page requests nothing from other origins');
  } finally {
    await browser.close();
  }
});

test('SSS prompt editing (CPU model, WGSL drawing): remove a class, draw a box with the mouse, re-run, reset', { timeout: 600_000 }, async () => {
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { page, errors, classes, dims } = await openSss(browser, '?model=cpu', 'flex (CPU)', 'WebGPU');
    const first = await volumeAfter(page, () => page.click('#segment'));
    assert.deepEqual(first.errors, [], 'no error');
    assert.ok(first.prompts && first.labels && first.lastVolume, 'prompts, masks and the run\'s figures');
    checkAutoPrompts(first.prompts, classes, dims);
    const v = first.lastVolume;
    console.log(`SSS on flex (wasm CPU), ${dims.join('×')}: ${(v.ms / 1000).toFixed(2)} s ` +
      `(coarse head + PCSW ${(v.promptsMs / 1000).toFixed(2)} s, propagation ${(v.propagateMs / 1000).toFixed(2)} s = ` +
      `${(v.propagateMs / dims[2]).toFixed(0)} ms/slice)`);
    volumes.cpu = /** @type {Segmented} */ (first);
    const before = countLabels(first.labels, classes.length);

    // Remove the largest class with its panel button.
    const removed = first.prompts.map((p) => p.class).sort((a, b) => before[b] - before[a])[0];
    assert.ok(before[removed] > 0);
    await page.click(`#prompts li[data-class="${removed}"] .remove`);
    assert.equal(await page.textContent(`#prompts li[data-class="${removed}"] .source`), 'removed');
    assert.ok(await page.evaluate(() => document.getElementById('rerun')?.classList.contains('pending')),
      'Re-run shows the prompts were edited');

    // Draw another class's box again with the mouse, on its slice: the same box as PCSW's.
    const kept = first.prompts.find((p) => p.class !== removed);
    assert.ok(kept, 'a class left');
    await page.click(`#prompts li[data-class="${kept.class}"] .goto`);
    await page.click(`#prompts li[data-class="${kept.class}"] .pick`);
    assert.match(await page.textContent('#prompt-hint') ?? '', /drag a box/);
    const [x0, y0, x1, y1] = kept.prompt.box_xyxy;
    const corners = await screenOf(page, [[x1, y1], [x0, y0]]);
    await page.mouse.move(corners[0].x, corners[0].y);
    await page.mouse.down();
    await page.mouse.move((corners[0].x + corners[1].x) / 2, (corners[0].y + corners[1].y) / 2);
    const keptColour = /** @type {ManifestClass} */ (classes.find((k) => k.label === kept.class)).color;
    assert.ok(await promptLayerPixels(page, keptColour) > 20, 'the box being drawn is shown');
    await page.mouse.move(corners[1].x, corners[1].y);
    await page.mouse.up();
    const drawn = await page.evaluate((c) => /** @type {ClassPrompt[]} */ (window.sss.prompts).find((p) => p.class === c),
      kept.class);
    assert.deepEqual(drawn, {
      class: kept.class,
      prompt: { slice: kept.prompt.slice, box_xyxy: [x0, y0, x1, y1], point: [(x0 + x1) / 2, (y0 + y1) / 2], source: 'user' },
    }, 'the mouse drew the box on the slice pixels it went over');
    assert.equal(await page.textContent(`#prompts li[data-class="${kept.class}"] .source`), 'edited');
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => window.sss.selectedClass), null, 'Esc stops drawing');

    const edited = await volumeAfter(page, () => page.click('#rerun'));
    assert.deepEqual(edited.errors, [], 'no error');
    assert.ok(edited.prompts && edited.labels && edited.lastVolume, 'prompts, masks and the run\'s figures');
    assert.deepEqual(edited.lastVolume.prompts, edited.prompts, 'Re-run sent the edited prompts');
    assert.equal(edited.lastVolume.promptsMs, 0, 'Re-run did not ask PCSW again');
    const after = countLabels(edited.labels, classes.length);
    assert.equal(after[removed], 0, `the removed class ${removed} is gone from every slice (${after})`);
    for (const p of edited.prompts) assert.ok(after[p.class] > 0, `class ${p.class} is still segmented (${after})`);
    console.log(`removing class ${removed}: voxels per class ${before} -> ${after}`);

    // Reset prompts goes back to PCSW's, and re-running them gives the first masks again.
    await page.click('#reset-prompts');
    const reset = await volumeAfter(page, () => page.click('#rerun'));
    assert.deepEqual(reset.prompts, first.prompts, 'Reset prompts restores PCSW\'s');
    const firstLabels = first.labels;
    assert.ok(reset.labels, 'masks');
    assert.deepEqual(countLabels(reset.labels, classes.length), before);
    assert.ok(reset.labels.every((l, i) => l === firstLabels[i]), 'the same prompts give the same masks');
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});

test('SSS without WebGPU: auto-segments when ticked, draws on the 2-D canvas; a bad prompt is refused and the masks stay', { timeout: 600_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors, classes, dims } = await openSss(browser, '', 'flex (CPU)', '2-D canvas');
    const first = await volumeAfter(page, () => page.check('#auto'));
    assert.deepEqual(first.errors, [], 'no error');
    assert.ok(first.prompts && first.labels, 'prompts and masks');
    checkAutoPrompts(first.prompts, classes, dims);
    await drawn(page);
    assert.ok(await colouredPixels(page) > 50, 'the overlay is drawn on the 2-D canvas');
    await checkPromptsDrawn(page, first.prompts, classes);

    // A box outside the slice (the slice is dims[0] wide).
    const bad = structuredClone(first.prompts);
    bad[0].prompt.box_xyxy = [dims[0] - 8, 4, dims[0] + 8, 20];
    bad[0].prompt.source = 'user';
    await page.evaluate((p) => window.sss.api.setPrompts(p), bad);
    const refused = await volumeAfter(page, () => page.evaluate(() => window.sss.api.rerun()));
    assert.equal(refused.errors.length, 1, 'one error');
    assert.match(refused.errors[0], /box .* inside the \d+×\d+ slice/, refused.errors[0]);
    assert.ok(await page.isVisible('#error'), 'the error is shown');
    assert.match(await page.textContent('#error') ?? '', /Segmentation failed: .*box/);
    assert.deepEqual(refused.lastVolume, first.lastVolume, 'the last result stands');
    const firstLabels = first.labels;
    assert.ok(refused.labels?.every((l, i) => l === firstLabels[i]), 'the masks stay');
    assert.equal(refused.masks, dims[2]);
    assert.ok(!(await page.isDisabled('#rerun')), 'the page is usable again');

    // The page's benchmark hook (scripts/bench-page.sh) works and times every stage; the
    // masks stay (it times a model of its own). Its numbers go to BENCHMARKS.md, not here.
    const timings = await page.evaluate(() => window.sss.api.benchStages(2, 0));
    const sam2Name = await page.evaluate(() => window.sss.manifest?.model.sam2?.name);
    assert.equal(timings.config, sam2Name, 'the loaded weights\' SAM-2 config is timed');
    assert.deepEqual([timings.iters, timings.warmup], [2, 0]);
    for (const stage of [timings.image_encoder, timings.prompt_and_decoder, timings.propagation_step]) {
      assert.ok(stage.first_ms > 0 && stage.median_ms > 0 && Number.isFinite(stage.first_ms + stage.median_ms),
        JSON.stringify(timings));
    }
    const afterBench = await page.evaluate(() => Array.from(window.sss.labels ?? []));
    assert.ok(afterBench.every((l, i) => l === firstLabels[i]), 'the masks stay after timing');
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});

/**
 * What the page shows now: the mask view (state and control), and how many voxels of the
 * masks in `masks` (all slices; a missing slice counts whole) and of the mask the renderer
 * holds for the shown slice differ from the coarse head's label map and from SAM-2's.
 * @param {import('playwright-core').Page} page
 */
function shownMasks(page) {
  return page.evaluate(() => {
    const s = window.sss;
    const [nx, ny, nz] = /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims;
    const n = nx * ny;
    /** @param {Uint8Array|null|undefined} mask @param {Uint8Array|null} map @param {number} z */
    const differ = (mask, map, z) => {
      if (!mask || !map) return n;
      let d = 0;
      for (let i = 0; i < n; i++) if (mask[i] !== map[z * n + i]) d++;
      return d;
    };
    let [coarse, labels] = [0, 0];
    for (let z = 0; z < nz; z++) {
      coarse += differ(s.masks.get(z), s.coarse, z);
      labels += differ(s.masks.get(z), s.labels, z);
    }
    const held = window.sssRenderer.labels;
    return {
      view: s.view,
      radio: /** @type {HTMLInputElement} */ (document.querySelector('input[name="mask-view"]:checked')).value,
      differ: { coarse, labels },
      rendererDiffers: { coarse: differ(held, s.coarse, s.z), labels: differ(held, s.labels, s.z) },
    };
  });
}

/**
 * Screen pixels of the overlay per class, read back from the renderer with the overlay fully
 * opaque (each class then has exactly its colour); the renderer's scale (screen pixels per
 * slice pixel, along one axis); and how many pixels changed since the previous call.
 * @param {import('playwright-core').Page} page
 * @param {ManifestClass[]} classes
 */
async function overlayPixelsByClass(page, classes) {
  await drawn(page);
  return page.evaluate(async (classes) => {
    const w = window;
    const { rgba } = await w.sssRenderer.readPixels();
    const counts = new Array(classes.length).fill(0);
    const colours = classes.filter((c) => c.label > 0);
    let changed = 0;
    const previous = w.__previousFrame;
    for (let i = 0; i < rgba.length; i += 4) {
      if (previous && (rgba[i] !== previous[i] || rgba[i + 1] !== previous[i + 1] || rgba[i + 2] !== previous[i + 2])) changed++;
      for (const c of colours) {
        if (Math.abs(rgba[i] - c.color[0]) <= 2 && Math.abs(rgba[i + 1] - c.color[1]) <= 2 &&
          Math.abs(rgba[i + 2] - c.color[2]) <= 2) counts[c.label]++;
      }
    }
    w.__previousFrame = rgba;
    return { counts, scale: w.sssRenderer.view.scale, changed };
  }, classes);
}

/**
 * Checks the overlay drawn for slice `z` shows label map `map`: per class, the screen pixels
 * of its colour are its slice pixels times the renderer's scale squared (nearest sampling),
 * and a class absent from the slice has none.
 * @param {{counts: number[], scale: number}} drawn
 * @param {number[]} map
 * @param {number[]} dims
 * @param {number} z
 * @param {string} what
 */
function checkOverlayShows(drawn, map, dims, z, what) {
  const n = dims[0] * dims[1];
  const expected = countLabels(map.slice(z * n, (z + 1) * n), drawn.counts.length);
  const area = drawn.scale * drawn.scale;
  for (let c = 1; c < expected.length; c++) {
    const said = `${what}, slice ${z}: class ${c} drawn on ${drawn.counts[c]} screen pixels for ` +
      `${expected[c]} slice pixels at scale ${drawn.scale.toFixed(2)}`;
    if (expected[c] === 0) {
      assert.equal(drawn.counts[c], 0, said);
    } else if (expected[c] < 50) {
      // Too small for the ratio: a texel's edge falls on either side of a screen pixel.
      assert.ok(drawn.counts[c] > 0, said);
    } else {
      const ratio = drawn.counts[c] / (expected[c] * area);
      assert.ok(ratio > 0.85 && ratio < 1.15, said);
    }
  }
}

test('SSS mask view (CPU model): SAM-2\'s or the coarse head\'s masks by the control, C and the API; slice keys after a checkbox', { timeout: 600_000 }, async () => {
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { page, errors, classes, dims } = await openSss(browser, '?model=cpu', 'flex (CPU)', 'WebGPU');
    const [nx, ny, nz] = dims;
    const n = nx * ny;
    assert.ok(await page.isVisible('#mask-view'), 'the mask view control is shown for SSS weights');
    assert.equal(await page.evaluate(() => window.sss.view), 'sam2', 'SAM-2 by default');

    // Chosen before segmenting, the coarse head's masks show as soon as PCSW's prompts come,
    // before SAM-2 has propagated: recorded when the worker reports that propagation started.
    await page.check('input[name="mask-view"][value="coarse"]');
    assert.equal(await page.evaluate(() => window.sss.view), 'coarse');
    await page.evaluate(() => {
      const w = window;
      w.__atPropagation = null;
      const span = /** @type {HTMLElement} */ (document.querySelector('#progress span'));
      new MutationObserver(() => {
        if (w.__atPropagation || !span.textContent?.startsWith('propagating')) return;
        const s = w.sss;
        const [nx, ny, nz] = /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims;
        let same = !!s.coarse;
        for (let z = 0; same && z < nz; z++) {
          const m = s.masks.get(z);
          same = !!m && m.every((l, i) => l === /** @type {Uint8Array} */ (s.coarse)[z * nx * ny + i]);
        }
        const held = w.sssRenderer.labels;
        w.__atPropagation = { busy: s.busy, labels: !!s.labels, slices: s.masks.size, same,
          rendererSame: !!held && held.every((l, i) => l === /** @type {Uint8Array} */ (s.coarse)[s.z * nx * ny + i]),
          note: document.getElementById('view-note')?.textContent };
      }).observe(span, { childList: true, characterData: true, subtree: true });
    });
    const result = await volumeAfter(page, () => page.click('#segment'));
    assert.deepEqual(result.errors, [], 'no error');
    const during = await page.evaluate(() => window.__atPropagation);
    assert.ok(during, 'propagation was reported');
    assert.deepEqual(during, { busy: true, labels: false, slices: nz, same: true, rendererSame: true, note: '' },
      'while SAM-2 propagated, every slice showed the coarse head\'s masks');

    const coarse = await page.evaluate(() => Array.from(/** @type {Uint8Array} */ (window.sss.coarse)));
    const labels = /** @type {number[]} */ (result.labels);
    assert.equal(coarse.length, nx * ny * nz, 'the coarse head labels the whole volume');
    // The slice where the two label maps differ most, so that the overlay must change there.
    const differing = Array.from({ length: nz }, (_, z) => {
      let d = 0;
      for (let i = z * n; i < (z + 1) * n; i++) if (coarse[i] !== labels[i]) d++;
      return d;
    });
    const z = differing.indexOf(Math.max(...differing));
    assert.ok(differing[z] > 100, `SAM-2's and the coarse head's masks differ (${differing[z]} pixels on slice ${z})`);
    await page.evaluate((z) => window.sss.api.goToSlice(z), z);
    await page.$eval('#opacity', (el) => {
      /** @type {HTMLInputElement} */ (el).value = '100';
      el.dispatchEvent(new Event('input'));
    });

    // Still the coarse view after propagation: state, renderer and pixels show `coarse`.
    let shown = await shownMasks(page);
    assert.deepEqual([shown.view, shown.radio], ['coarse', 'coarse']);
    assert.equal(shown.differ.coarse, 0, 'the masks are the coarse head\'s, voxel for voxel');
    assert.equal(shown.rendererDiffers.coarse, 0, 'the renderer holds the coarse slice');
    checkOverlayShows(await overlayPixelsByClass(page, classes), coarse, dims, z, 'coarse view');

    // The control back to SAM-2: `labels`, and the overlay pixels change where they differ.
    await page.check('input[name="mask-view"][value="sam2"]');
    shown = await shownMasks(page);
    assert.deepEqual([shown.view, shown.radio], ['sam2', 'sam2']);
    assert.equal(shown.differ.labels, 0, 'the masks are SAM-2\'s, voxel for voxel');
    assert.equal(shown.rendererDiffers.labels, 0, 'the renderer holds SAM-2\'s slice');
    const samPixels = await overlayPixelsByClass(page, classes);
    checkOverlayShows(samPixels, labels, dims, z, 'SAM-2 view');
    // Each slice pixel covers at least floor(scale)² screen pixels.
    const minimum = differing[z] * Math.floor(samPixels.scale) ** 2;
    assert.ok(samPixels.changed >= minimum, `the overlay changed on ${samPixels.changed} screen pixels (≥ ${minimum})`);
    console.log(`mask view: slice ${z}, SAM-2's and the coarse head's masks differ on ${differing[z]} pixels; ` +
      `switching changed ${samPixels.changed} screen pixels (scale ${samPixels.scale.toFixed(2)})`);

    // C toggles (the focus is on the radio button just clicked), and toggles back.
    await page.keyboard.press('c');
    shown = await shownMasks(page);
    assert.deepEqual([shown.view, shown.radio], ['coarse', 'coarse'], 'C shows the coarse head\'s masks');
    assert.equal(shown.differ.coarse, 0);
    checkOverlayShows(await overlayPixelsByClass(page, classes), coarse, dims, z, 'after C');
    await page.keyboard.press('c');
    shown = await shownMasks(page);
    assert.deepEqual([shown.view, shown.radio], ['sam2', 'sam2'], 'C again shows SAM-2\'s');
    assert.equal(shown.differ.labels, 0);
    checkOverlayShows(await overlayPixelsByClass(page, classes), labels, dims, z, 'after C again');

    // The API; a view that does not exist is refused and changes nothing.
    await page.evaluate(() => window.sss.api.setView('coarse'));
    assert.equal((await shownMasks(page)).differ.coarse, 0, 'api.setView(\'coarse\')');
    const refused = await page.evaluate(() => {
      const wrong = /** @type {MaskView} */ (/** @type {string} */ ('sam3')); // no such view, on purpose
      try { window.sss.api.setView(wrong); return null; } catch (e) { return String(e); }
    });
    assert.match(refused ?? '', /no mask view "sam3"/);
    assert.equal((await shownMasks(page)).view, 'coarse');
    await page.evaluate(() => window.sss.api.setView('sam2'));

    // After clicking the checkbox (which segments again), the arrow keys still change slices.
    const again = await volumeAfter(page, () => page.click('#auto'));
    assert.deepEqual(again.errors, [], 'no error');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'auto', 'the checkbox has the focus');
    await page.evaluate(() => window.sss.api.goToSlice(1));
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate(() => window.sss.z), 2, 'ArrowDown: next slice');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.evaluate(() => window.sss.z), 0, 'ArrowUp: previous slice');
    // In a text field the keys are the field's.
    await page.evaluate(() => {
      const field = document.createElement('input');
      field.id = 'typing';
      document.body.append(field);
    });
    await page.focus('#typing');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('c');
    assert.deepEqual(await page.evaluate(() => [window.sss.z, window.sss.view]),
      [0, 'sam2'], 'keys typed into a text field leave the view alone');
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});

/**
 * What `recordSlices` notes at a slice's event: the slice, the run's progress, the masks and
 * propagated slices the page has, whether the slice's mask is shown and (for the shown slice,
 * else null) held by the renderer, the progress text and whether Stop is shown.
 * @typedef {{z: number, done: number, total: number, masks: number, propagated: number, shown: boolean,
 *   rendered: boolean|null, progress: string|null|undefined, stopShown: boolean}} SliceRecord
 */
/**
 * What the stop `recordSlices` made did: what `api.stop()` returned twice ('api'), whether the
 * run was stopping ('button', 'esc') and the first Esc stopped drawing only ('esc'); the
 * progress text and whether Stop was disabled after it.
 * @typedef {{returned?: boolean[], stopping?: boolean, drawingStopped?: boolean, progress: string|null|undefined,
 *   stopDisabled: boolean}} StopRecord
 */

/**
 * Records, for every `sss-slice` event the page fires (one per slice SAM-2 propagated), what
 * the page showed when it came, and assembles the slices into a label map of their own. With
 * `stop` set, the first slice's event stops the run: 'api' with `sss.api.stop()` (twice: the
 * second has nothing left to stop); 'button' with a click on Stop; 'esc' with Esc pressed while
 * a class is being drawn (which only stops drawing) and then again.
 * @param {import('playwright-core').Page} page
 * @param {'api'|'button'|'esc'|null} stop
 */
function recordSlices(page, stop) {
  return page.evaluate((stop) => {
    const w = window;
    w.__slices = [];
    w.__assembled = null;
    w.__stop = stop;
    w.__stopped = null;
    if (w.__listening) return;
    w.__listening = true;
    const escape = () => dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    addEventListener('sss-slice', (/** @type {any} */ e) => {
      const s = w.sss;
      const { z, done, total, labels } = e.detail;
      const [nx, ny, nz] = /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims;
      w.__assembled ??= new Uint8Array(nx * ny * nz);
      w.__assembled.set(labels, z * nx * ny);
      const shown = s.masks.get(z);
      const held = w.sssRenderer.labels;
      w.__slices.push({
        z, done, total, masks: s.masks.size, propagated: s.propagated.size,
        shown: !!shown && shown.length === labels.length && shown.every((/** @type {number} */ l, /** @type {number} */ i) => l === labels[i]),
        rendered: z !== s.z ? null : !!held && held.every((/** @type {number} */ l, /** @type {number} */ i) => l === labels[i]),
        progress: document.querySelector('#progress span')?.textContent,
        stopShown: /** @type {HTMLElement} */ (document.getElementById('stop')).checkVisibility(),
      });
      if (w.__stop && !w.__stopped) {
        /** `s.propagation`, read when called: a run is going (its slice came). */
        const running = () => /** @type {NonNullable<typeof s.propagation>} */ (s.propagation);
        if (w.__stop === 'api') {
          w.__stopped = { returned: [s.api.stop(), s.api.stop()] };
        } else if (w.__stop === 'button') {
          /** @type {HTMLButtonElement} */ (document.getElementById('stop')).click();
          w.__stopped = { stopping: running().stopping };
        } else {
          s.api.selectClass(/** @type {ClassPrompt[]} */ (s.prompts)[0].class);
          escape();
          const drawingStopped = s.selectedClass === null && !running().stopping;
          escape();
          w.__stopped = { drawingStopped, stopping: running().stopping };
        }
        w.__stopped.progress = document.querySelector('#progress span')?.textContent;
        w.__stopped.stopDisabled = /** @type {HTMLButtonElement} */ (document.getElementById('stop')).disabled;
      }
    });
  }, stop);
}

/**
 * What `recordSlices` recorded, and what the page shows now.
 * @param {import('playwright-core').Page} page
 */
function recorded(page) {
  return page.evaluate(() => {
    const w = window;
    const s = w.sss;
    const [nx, ny, nz] = /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims;
    const masked = [];
    for (let z = 0; z < nz; z++) if (s.masks.has(z)) masked.push(z);
    return {
      slices: /** @type {SliceRecord[]} */ (w.__slices), stopped: /** @type {StopRecord|null} */ (w.__stopped),
      assembled: w.__assembled ? Array.from(w.__assembled) : null,
      masked, propagated: Array.from(s.propagated).sort((/** @type {number} */ a, /** @type {number} */ b) => a - b),
      propagation: s.propagation,
      // Each shown mask is its slice of `labels`.
      masksAreLabels: masked.every((z) => /** @type {Uint8Array} */ (s.masks.get(z))
        .every((l, i) => l === /** @type {Uint8Array} */ (s.labels)[z * nx * ny + i])),
      timing: document.getElementById('timing')?.textContent,
      stopShown: /** @type {HTMLElement} */ (document.getElementById('stop')).checkVisibility(),
      errorShown: /** @type {HTMLElement} */ (document.getElementById('error')).checkVisibility(),
      rerunPending: document.getElementById('rerun')?.classList.contains('pending'),
    };
  });
}

/**
 * Each class of a label map (x fastest) cut to its largest 26-connected 3-D component, ties
 * to the component met first in raster order: what the weights' `post_process:
 * "largest-component"` does natively (`predictor::label_fusion::largest_components`).
 * @param {ArrayLike<number>} labels
 * @param {[number, number, number]} dims
 * @returns {Uint8Array}
 */
function largestComponents(labels, dims) {
  const { component, sizes } = components3d(labels, dims, (a, b) => a === b);
  /** @type {Map<number, number>} the largest component of each class */
  const best = new Map();
  for (let i = 0; i < labels.length; i++) {
    const held = best.get(labels[i]);
    if (labels[i] !== 0 && (held === undefined || sizes[component[i]] > sizes[held])) best.set(labels[i], component[i]);
  }
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) if (labels[i] !== 0 && best.get(labels[i]) === component[i]) out[i] = labels[i];
  return out;
}

test('SSS progressive masks and Stop (CPU model): slices shown as they come; Stop keeps those done; Re-run completes', { timeout: 600_000 }, async () => {
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { page, errors, dims } = await openSss(browser, '?model=cpu', 'flex (CPU)', 'WebGPU');
    const [nx, ny, nz] = dims;
    const n = nx * ny;
    const all = Array.from({ length: nz }, (_, z) => z);
    assert.ok(!(await page.isVisible('#stop')), 'no Stop before segmenting');

    // A whole run: an update per slice, each shown at once; the result is the assembled slices.
    await recordSlices(page, null);
    const full = await volumeAfter(page, () => page.click('#segment'));
    assert.deepEqual(full.errors, [], 'no error');
    let seen = await recorded(page);
    assert.equal(seen.slices.length, nz, `an update per slice (${seen.slices.length} for ${nz} slices)`);
    assert.deepEqual(seen.slices.map((u) => u.z).sort((a, b) => a - b), all, 'every slice once');
    seen.slices.forEach((u, i) => {
      const at = `update ${i + 1} (slice ${u.z})`;
      assert.deepEqual([u.done, u.total], [i + 1, nz], at);
      assert.equal(u.masks, i + 1, `${at}: SAM-2 masks on the slices done so far`);
      assert.equal(u.propagated, i + 1, at);
      assert.ok(u.shown, `${at}: its mask is shown at once`);
      assert.equal(u.progress, `propagating: ${i + 1}/${nz} slices`, at);
      assert.ok(u.stopShown, `${at}: Stop is shown while SAM-2 propagates`);
    });
    const onShown = seen.slices.filter((u) => u.rendered !== null);
    assert.equal(onShown.length, 1, 'one update for the shown slice');
    assert.ok(onShown[0].rendered, 'the shown slice\'s mask went to the renderer when it came');
    assert.equal(seen.assembled?.length, full.labels?.length);
    // The weights' clean-up (`post_process`) runs once the last slice is in.
    const manifest = JSON.parse(readFileSync(new URL('../../web/assets/weights/sss-cardiac.json', import.meta.url), 'utf8'));
    assert.equal(manifest.model.post_process, 'largest-component', 'the default weights clean up');
    const cleaned = largestComponents(/** @type {number[]} */ (seen.assembled), [nx, ny, nz]);
    assert.ok(cleaned.some((l, i) => l !== seen.assembled?.[i]), 'the clean-up removed something on the demo scan');
    assert.ok(cleaned.every((l, i) => l === full.labels?.[i]),
      'the final label map is the slices as they came, each class cut to its largest 3-D component');
    assert.equal(full.masks, nz, 'a mask for every slice');
    assert.ok(full.lastVolume, 'the run\'s figures');
    assert.equal(full.lastVolume.propagated, nz);
    assert.equal(full.lastVolume.stopped, false);
    assert.deepEqual(seen.propagation, { done: nz, total: nz, updates: nz, running: false, stopping: false });
    assert.ok(!seen.stopShown, 'no Stop once done');
    assert.equal(await page.evaluate(() => window.sss.api.stop()), false, 'nothing to stop');

    /**
     * Checks a stopped run: the slices done keep their masks (those of the whole run: the
     * same prompts), the others have none, the page says so and shows no error.
     * @param {Awaited<ReturnType<typeof volumeAfter>>} result
     * @param {Awaited<ReturnType<typeof recorded>>} seen
     */
    const checkStopped = (result, seen) => {
      assert.deepEqual(result.errors, [], 'a stop is no error');
      assert.ok(!seen.errorShown, 'no error shown');
      const done = seen.slices.length;
      assert.ok(done >= 1 && done < nz, `stopped early: ${done} of ${nz} slices propagated`);
      assert.deepEqual(seen.masked, seen.slices.map((u) => u.z).sort((a, b) => a - b), 'masks on the slices done, none elsewhere');
      assert.deepEqual(seen.propagated, seen.masked);
      assert.ok(seen.masksAreLabels);
      for (const z of seen.masked) {
        for (let i = z * n; i < (z + 1) * n; i++) {
          if (result.labels?.[i] !== full.labels?.[i]) assert.fail(`slice ${z} differs from the whole run's at voxel ${i}`);
        }
      }
      assert.ok(result.lastVolume, 'the run\'s figures');
      assert.equal(result.lastVolume.stopped, true);
      assert.equal(result.lastVolume.propagated, done);
      assert.match(seen.timing ?? '', new RegExp(`^stopped after ${done} of ${nz} slices`), 'the page says it stopped');
      assert.ok(seen.propagation, 'the run\'s progress');
      assert.equal(seen.propagation.updates, done);
      assert.ok(!seen.stopShown, 'no Stop once stopped');
      assert.ok(seen.rerunPending, 'Re-run stands out');
    };

    // Stop by the API when the first slice comes.
    await recordSlices(page, 'api');
    const stopped = await volumeAfter(page, () => page.evaluate(() => window.sss.api.rerun()));
    seen = await recorded(page);
    assert.deepEqual(seen.stopped?.returned, [true, false], 'api.stop() stopped a running segmentation');
    assert.match(seen.stopped?.progress ?? '', /^stopping after this slice/);
    assert.ok(seen.stopped?.stopDisabled, 'Stop is disabled once asked');
    checkStopped(stopped, seen);
    const { propagated } = /** @type {NonNullable<Volume['lastVolume']>} */ (stopped.lastVolume); // as checkStopped found
    console.log(`Stop at the first slice's update (CPU): ${propagated} of ${nz} slices propagated; ` +
      `"${seen.timing}"`);
    // The coarse view still shows every slice.
    await page.evaluate(() => window.sss.api.setView('coarse'));
    assert.equal(await page.evaluate(() => window.sss.masks.size), nz, 'the coarse head\'s masks on every slice');
    await page.evaluate(() => window.sss.api.setView('sam2'));
    assert.equal(await page.evaluate(() => window.sss.masks.size), seen.masked.length);

    // Re-run completes every slice again.
    await recordSlices(page, null);
    const again = await volumeAfter(page, () => page.click('#rerun'));
    assert.deepEqual(again.errors, [], 'no error');
    assert.equal(again.masks, nz, 'a mask for every slice after Re-run');
    assert.ok(again.lastVolume, 'the run\'s figures');
    assert.equal(again.lastVolume.stopped, false);
    assert.ok(again.labels?.every((l, i) => l === full.labels?.[i]), 'the same masks as the whole run');
    seen = await recorded(page);
    assert.equal(seen.slices.length, nz);
    assert.ok(!seen.rerunPending, 'Re-run no longer stands out');

    // Esc while a class is being drawn stops drawing only; Esc again stops the run.
    await recordSlices(page, 'esc');
    const escaped = await volumeAfter(page, () => page.click('#rerun'));
    seen = await recorded(page);
    assert.deepEqual(seen.stopped, {
      drawingStopped: true, stopping: true, progress: seen.stopped?.progress, stopDisabled: true,
    }, 'the first Esc stopped drawing, the second the run');
    checkStopped(escaped, seen);

    // The Stop button.
    await recordSlices(page, 'button');
    const clicked = await volumeAfter(page, () => page.click('#rerun'));
    seen = await recorded(page);
    assert.equal(seen.stopped?.stopping, true, 'Stop asked the run to stop');
    checkStopped(clicked, seen);
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});

test('SSS volumes on WebGPU and on the CPU agree, and score the ground truth as natively', () => {
  assert.ok(volumes.webgpu && volumes.cpu, 'both backends segmented the volume');
  const [a, b] = [volumes.webgpu, volumes.cpu];
  // The coarse head's probabilities pass PCSW's thresholds alike: the same prompts.
  assert.deepEqual(a.prompts, b.prompts, 'the same PCSW prompts');
  const n = a.labels.length;
  let same = 0;
  for (let i = 0; i < n; i++) if (a.labels[i] === b.labels[i]) same++;
  // Background dominates the voxel count; per class Dice is the telling number.
  const dice = a.prompts.map((p) => ({ class: p.class, dice: classDice(a.labels, b.labels, p.class) }));
  console.log(`SSS WebGPU vs CPU: ${(100 * same / n).toFixed(3)} % of voxels agree; Dice per class ` +
    dice.map((d) => `${d.class}: ${d.dice.toFixed(4)}`).join(', '));
  assert.ok(same / n > 0.995, `voxel agreement ${(100 * same / n).toFixed(2)} %`);
  for (const d of dice) assert.ok(d.dice > 0.95, `class ${d.class}: Dice ${d.dice}`);

  // Against the truth: the demo's labels, and what native `default_weights.rs` measured.
  const root = new URL('../../', import.meta.url);
  const truth = readNiftiLabels(new URL('web/assets/demo/demo_gt.nii.gz', root).pathname);
  /** @type {{weights_sha256: string, full: number[], margin: number}} */
  const expected = JSON.parse(readFileSync(new URL('tests/demo-dice.json', root), 'utf8'));
  const manifest = JSON.parse(readFileSync(new URL('web/assets/weights/sss-cardiac.json', root), 'utf8'));
  assert.equal(manifest.weights_sha256, expected.weights_sha256, 'tests/demo-dice.json measures these weights');
  assert.equal(truth.labels.length, n, 'the ground truth has the volume\'s voxels');

  // Against native `sss segment` on the same scan and weights (SSS_BIN, set by scripts/test.sh
  // to the binary the Rust tests built): the same label map, voxel for voxel, up to 0.5 %.
  const bin = process.env.SSS_BIN;
  assert.ok(bin, 'SSS_BIN names the native sss binary (scripts/test.sh sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'sss-native-'));
  /** @type {Uint8Array} */
  let native;
  try {
    const out = join(dir, 'demo_labels.nii.gz');
    execFileSync(bin, ['segment', new URL('web/assets/demo/demo.nii.gz', root).pathname,
      '--weights', new URL('web/assets/weights/sss-cardiac.json', root).pathname, '--out', out],
    { stdio: ['ignore', 'ignore', 'inherit'] });
    native = readNiftiLabels(out).labels;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(native.length, n, 'the native label map has the volume\'s voxels');
  for (const [name, v] of /** @type {const} */ ([['WebGPU', a], ['CPU', b]])) {
    let agree = 0;
    for (let i = 0; i < n; i++) if (v.labels[i] === native[i]) agree++;
    const dice = a.prompts.map((p) => classDice(v.labels, native, p.class));
    console.log(`SSS on ${name} vs native sss segment: ${(100 * agree / n).toFixed(3)} % of voxels agree; ` +
      `Dice per class ${dice.map((d) => d.toFixed(4)).join(', ')}`);
    assert.ok(agree / n >= 0.995, `${name} vs native: ${(100 * agree / n).toFixed(2)} % of voxels agree`);
    dice.forEach((d, i) => assert.ok(d > 0.95, `${name} vs native, class ${a.prompts[i].class}: Dice ${d.toFixed(4)}`));
  }
  for (const [name, v] of /** @type {const} */ ([['WebGPU', a], ['CPU', b]])) {
    const scores = expected.full.map((_, i) => classDice(v.labels, truth.labels, i + 1));
    console.log(`SSS on ${name} vs the demo's ground truth: Dice per class ${scores.map((d) => d.toFixed(4)).join(', ')} ` +
      `(native ${expected.full.join(', ')}, margin ${expected.margin})`);
    scores.forEach((d, i) => assert.ok(d >= expected.full[i] - expected.margin,
      `${name}, class ${i + 1}: Dice ${d.toFixed(4)} vs native ${expected.full[i]}`));
  }
});
