// Correcting at interactive speed: with a class picked, a click on its prompt's slice adds a
// correction point (Shift+click: the object leaves it out), and the slice's new masks are shown
// at once from SAM-2's image predictor in the worker, which keeps the slice's image embedding:
// the first correction on a slice runs the image encoder, the next ones only the prompt encoder
// and mask decoder. Undo and redo (keys and buttons) restore the prompts and the slice masks
// the preview changed; Re-run propagates the clicks. The brush and the eraser paint the picked
// class with the mouse; undo restores the masks exactly. The demo scan, on the wasm CPU backend
// (and one correction on WebGPU, against the CPU's).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { NO_WEBGPU_FLAGS, WEBGPU_FLAGS, classDice, launch, openPage, screenOf, startServer, volumeAfter } from './harness.mjs';

/** @typedef {import('../../web/js/protocol.js').ClassPrompt} ClassPrompt */
/** @typedef {import('../../web/js/protocol.js').Manifest} Manifest */

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;

before(async () => { server = await startServer(); });

/**
 * The CPU test's first correction, for the WebGPU test to repeat: the prompts before it, the
 * click, and the slice's preview (only the classes prompted there).
 * @type {{prompts: ClassPrompt[], z: number, click: number[], preview: number[]}|null}
 */
let cpuCorrection = null;
after(async () => { await server?.close(); });

/** @param {import('playwright-core').Page} page */
function pageState(page) {
  return page.evaluate(() => {
    const s = window.sss;
    return {
      prompts: s.prompts, lastPreview: s.lastPreview, labels: s.labels ? Array.from(s.labels) : null,
      errors: s.errors, timing: document.getElementById('timing')?.textContent ?? '',
      undo: !(/** @type {HTMLButtonElement} */ (document.getElementById('undo')).disabled),
      redo: !(/** @type {HTMLButtonElement} */ (document.getElementById('redo')).disabled),
    };
  });
}

/**
 * Slice `z` of a label map (x fastest).
 * @param {number[]} labels
 * @param {number[]} dims
 * @param {number} z
 */
function sliceOf(labels, dims, z) {
  const plane = dims[0] * dims[1];
  return labels.slice(z * plane, (z + 1) * plane);
}

/**
 * The pixel of class `label` farthest from (cx, cy) on a slice, and its distance ([cx, cy, -1]
 * where the class is absent).
 * @param {number[]} plane the slice's labels (x fastest)
 * @param {number} nx
 * @param {number} label
 * @param {number} cx
 * @param {number} cy
 * @returns {[number, number, number]}
 */
function farthestPixel(plane, nx, label, cx, cy) {
  /** @type {[number, number, number]} */
  let best = [cx, cy, -1];
  for (let i = 0; i < plane.length; i++) {
    const [x, y] = [i % nx, Math.floor(i / nx)];
    const d = Math.hypot(x - cx, y - cy);
    if (plane[i] === label && d > best[2]) best = [x, y, d];
  }
  return best;
}

test('a click corrects a prompt\'s slice at once (the embedding kept), undo and redo restore it, Re-run propagates it', { timeout: 600_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
    const first = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(first.errors, [], 'segmented');
    assert.ok(first.prompts && first.labels, 'prompts and masks');
    const dims = first.dims;
    const [nx] = dims;
    // The left ventricle's prompt: its interior point lies in the object.
    const lv = first.prompts.find((p) => p.class === 3);
    assert.ok(lv, 'a prompt for the LV');
    const { slice: z, point: [cx, cy] } = lv.prompt;
    const at = (/** @type {number} */ x, /** @type {number} */ y) => y * nx + x;
    const firstSlice = sliceOf(first.labels, dims, z);
    assert.equal(firstSlice[at(cx, cy)], 3, 'the prompt\'s point is in the LV');
    // The clicked pixel: an LV pixel far from the prompt's point (its edge).
    const [px, py, far] = farthestPixel(firstSlice, nx, 3, cx, cy);
    const count = (/** @type {number[]} */ plane, /** @type {number} */ c) => plane.filter((l) => l === c).length;
    assert.equal((await pageState(page)).undo, false, 'nothing to undo yet');

    // SAM-2's object scores along the slices: one per class and slice, present where each
    // class was prompted; the strip shows them and a click on it goes to that slice.
    const scores = await page.evaluate(() => {
      const o = window.sss.objectScores;
      return o && { classes: o.classes, scores: Array.from(o.scores), ious: o.ious ? Array.from(o.ious) : null };
    });
    assert.deepEqual(scores?.classes, first.prompts.map((p) => p.class));
    assert.equal(scores.scores.length, dims[2] * scores.classes.length);
    assert.ok(scores.scores.every((/** @type {number} */ v) => Number.isFinite(v)), 'a score for every slice and class');
    first.prompts.forEach((p, i) => {
      assert.ok(scores.scores[p.prompt.slice * scores.classes.length + i] > 0, `class ${p.class} is present on its prompt's slice`);
    });
    const strip = await page.evaluate(() => {
      const c = /** @type {HTMLCanvasElement} */ (document.getElementById('score-strip'));
      const d = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).getImageData(0, 0, c.width, c.height).data;
      let coloured = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 30) coloured++;
      const r = c.getBoundingClientRect();
      return { hidden: c.hidden, coloured, rect: { x: r.left, y: r.top, w: r.width, h: r.height } };
    });
    assert.equal(strip.hidden, false);
    assert.ok(strip.coloured > 50, `the strip is drawn (${strip.coloured} coloured pixels)`);
    // The mask decoder's predicted IoU of each class's chosen mask, beside the scores: one in
    // [0, 1] per class and propagated slice, not a constant filled in; the strip draws it as
    // a grey band under each score (the whiter, the higher) and its tooltip names both.
    const ious = /** @type {number[]} */ (scores.ious);
    assert.equal(ious?.length, dims[2] * scores.classes.length, 'an IoU per slice and class');
    assert.ok(ious.every((v) => Number.isFinite(v) && v >= 0 && v <= 1), `IoUs in [0, 1]: ${ious.map((v) => v.toFixed(3))}`);
    assert.ok(ious.some((v) => v > 0 && v < 1), `IoUs predicted, not filled in: ${ious}`);
    const bands = await page.evaluate((nz) => {
      const c = /** @type {HTMLCanvasElement} */ (document.getElementById('score-strip'));
      const o = /** @type {NonNullable<typeof window.sss.objectScores>} */ (window.sss.objectScores);
      const k = o.classes.length;
      const dpr = window.devicePixelRatio || 1;
      const [row, scoreBand, column] = [Math.round(7 * dpr), Math.round(4 * dpr), c.width / nz];
      const d = /** @type {CanvasRenderingContext2D} */ (c.getContext('2d')).getImageData(0, 0, c.width, c.height).data;
      /** @type {{z: number, i: number, iou: number, rgb: number[]}[]} */
      const out = [];
      for (let z = 0; z < nz; z++) {
        for (let i = 0; i < k; i++) {
          const [x, y] = [Math.floor(z * column) + 1, i * row + scoreBand];
          const at = (y * c.width + x) * 4;
          out.push({ z, i, iou: o.ious[z * k + i], rgb: [d[at], d[at + 1], d[at + 2]] });
        }
      }
      return out;
    }, dims[2]);
    for (const { z: bz, i, iou, rgb } of bands) {
      const grey = Math.round(40 + 215 * iou);
      assert.ok(rgb.every((v) => Math.abs(v - grey) <= 2), `slice ${bz}, row ${i}: IoU ${iou.toFixed(3)} drawn as grey ${grey}, got ${rgb}`);
    }
    const target = dims[2] - 2;
    await page.locator('#score-strip').hover({ position: { x: ((target + 0.5) / dims[2]) * strip.rect.w, y: strip.rect.h / 2 } });
    const tip = await page.evaluate(() => document.getElementById('score-strip')?.title ?? '');
    const names = await page.evaluate(() => /** @type {Manifest} */ (window.sss.manifest).classes
      .map((c) => /** @type {[number, string]} */ ([c.label, c.name])));
    const k = scores.classes.length;
    const expectedTip = `slice ${target}: ` + scores.classes.map((/** @type {number} */ c, /** @type {number} */ i) => {
      const name = /** @type {[number, string]} */ (names.find((n) => n[0] === c))[1];
      return `${name} score ${scores.scores[target * k + i].toFixed(1)}, IoU ${ious[target * k + i].toFixed(2)}`;
    }).join('; ');
    assert.equal(tip.split('\n')[0], expectedTip, 'the tooltip gives the slice\'s scores and IoUs');
    await page.locator('#score-strip').click({ position: { x: ((target + 0.5) / dims[2]) * strip.rect.w, y: strip.rect.h / 2 } });
    assert.equal(await page.evaluate(() => window.sss.z), target, 'a click on the strip goes to that slice');

    await page.evaluate((z) => window.sss.api.goToSlice(z), z);
    await page.click('#prompts li[data-class="3"] .pick');
    assert.match(await page.textContent('#prompt-hint') ?? '', /Shift\+click: leave it out/);

    // Shift+click with the mouse on the prompt's point: the LV must leave that pixel out.
    const [screen] = await screenOf(page, [[px, py]]);
    await page.keyboard.down('Shift');
    await page.mouse.click(screen.x, screen.y);
    await page.keyboard.up('Shift');
    await page.waitForFunction(() => window.sss.lastPreview, null, { timeout: 120_000 });
    const clicked = await pageState(page);
    assert.ok(clicked.prompts && clicked.lastPreview, 'prompts and a preview');
    const lvNow = clicked.prompts.find((p) => p.class === 3);
    assert.ok(lvNow, 'the LV prompt');
    assert.deepEqual(lvNow.clicks, [{ point: [px, py], positive: false }], 'the click is on the LV prompt');
    assert.equal(lvNow.prompt.source, 'user');
    assert.equal(clicked.lastPreview.z, z);
    assert.equal(clicked.lastPreview.encoded, true, 'the first correction on a slice encodes it');
    const previewed = sliceOf(/** @type {number[]} */ (clicked.labels), dims, z);
    console.log(`negative click at (${px}, ${py}), ${far.toFixed(1)} px from the point: LV ${count(firstSlice, 3)} -> ${count(previewed, 3)} px, clicked pixel ${firstSlice[at(px, py)]} -> ${previewed[at(px, py)]}`);
    assert.notEqual(previewed[at(px, py)], 3, 'the LV left the clicked pixel out');
    const prompted = new Set(clicked.lastPreview.classes);
    assert.ok(prompted.has(3));
    for (let i = 0; i < previewed.length; i++) {
      if (!prompted.has(firstSlice[i]) && !prompted.has(previewed[i])) {
        assert.equal(previewed[i], firstSlice[i], `pixel ${i}: a class not prompted on this slice is untouched`);
      }
    }
    cpuCorrection = { prompts: first.prompts, z, click: [px, py], preview: previewed.map((l) => (prompted.has(l) ? l : 0)) };
    for (let k = 0; k < dims[2]; k++) {
      if (k !== z) assert.deepEqual(sliceOf(/** @type {number[]} */ (clicked.labels), dims, k), sliceOf(first.labels, dims, k), `slice ${k} untouched`);
    }
    assert.match(clicked.timing, /corrected in \d+ ms \(image encoder, prompt encoder and mask decoder\)/);
    assert.ok(clicked.undo && !clicked.redo);

    // A second, positive click on the same slice: only the prompt encoder and the decoder run.
    const shown = await page.evaluate(([x, y]) => window.sss.api.click(3, x, y, true), [cx, cy]);
    assert.equal(shown, true, 'the preview was shown');
    const second = await pageState(page);
    assert.ok(second.prompts && second.lastPreview, 'prompts and a preview');
    assert.deepEqual(/** @type {ClassPrompt} */ (second.prompts.find((p) => p.class === 3)).clicks,
      [{ point: [px, py], positive: false }, { point: [cx, cy], positive: true }]);
    assert.equal(second.lastPreview.encoded, false, 'the slice embedding was kept');
    assert.match(second.timing, /\(prompt encoder and mask decoder only\)/);
    console.log(`correction preview on the wasm CPU: first click ${clicked.lastPreview.ms.toFixed(0)} ms (with the image encoder), ` +
      `second ${second.lastPreview.ms.toFixed(0)} ms (prompt encoder and decoder only)`);

    // Undo twice (key, then button): back to PCSW's prompts and the first masks; redo once.
    await page.keyboard.press('Control+z');
    let s = await pageState(page);
    assert.deepEqual(s.prompts, clicked.prompts, 'Ctrl+Z undid the second click');
    assert.deepEqual(s.labels, clicked.labels, 'and its slice masks');
    await page.click('#undo');
    s = await pageState(page);
    assert.deepEqual(s.prompts, first.prompts, 'the Undo button undid the first click');
    assert.deepEqual(s.labels, first.labels, 'the first masks are back');
    assert.ok(!s.undo && s.redo, 'nothing left to undo; redo possible');
    await page.keyboard.press('Control+Shift+z');
    s = await pageState(page);
    assert.deepEqual(s.prompts, clicked.prompts, 'Ctrl+Shift+Z redid the first click');
    assert.deepEqual(s.labels, clicked.labels);

    // Re-run propagates the corrected prompt; the clicked pixel stays out of the LV.
    await page.keyboard.press('Escape');
    const rerun = await volumeAfter(page, () => page.click('#rerun'));
    assert.deepEqual(rerun.errors, []);
    assert.ok(rerun.lastVolume, 'a volume segmentation');
    assert.deepEqual(rerun.lastVolume.prompts, clicked.prompts, 'Re-run sent the click');
    assert.notEqual(sliceOf(/** @type {number[]} */ (rerun.labels), dims, z)[at(px, py)], 3, 'propagation keeps the correction');
    // Undo after a propagation restores the prompts only; the masks are the propagation's.
    await page.click('#undo');
    s = await pageState(page);
    assert.deepEqual(s.prompts, first.prompts);
    assert.deepEqual(s.labels, rerun.labels, 'the propagated masks stay until the next Re-run');
    assert.deepEqual([...errors, ...s.errors], [], 'no error');
  } finally {
    await browser.close();
  }
});

test('a click off the prompt\'s slice is explained, not applied', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
    const first = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.ok(first.prompts, 'prompts');
    const lv = first.prompts.find((p) => p.class === 3);
    assert.ok(lv, 'a prompt for the LV');
    const other = lv.prompt.slice === 0 ? 1 : 0;
    await page.evaluate((z) => window.sss.api.goToSlice(z), other);
    await page.evaluate(() => window.sss.api.selectClass(3));
    const shown = await page.evaluate(() => window.sss.api.click(3, 10, 10, true));
    assert.equal(shown, false);
    const s = await pageState(page);
    assert.deepEqual(s.prompts, first.prompts, 'the prompts are unchanged');
    assert.match(await page.textContent('#prompt-hint') ?? '', new RegExp(`on its own slice \\(slice ${lv.prompt.slice + 1}\\)`));
    assert.equal(s.undo, false, 'nothing to undo');
    assert.deepEqual([...errors, ...s.errors], []);
  } finally {
    await browser.close();
  }
});

test('with "Propagate each edit" on, a click propagates at once, and its undo propagates the masks back', { timeout: 600_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
    const first = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    assert.deepEqual(first.errors, [], 'segmented');
    assert.ok(first.prompts && first.labels && first.lastVolume, 'prompts, masks, a volume run');
    const dims = first.dims;
    const [nx] = dims;
    const lv = first.prompts.find((p) => p.class === 3);
    assert.ok(lv, 'a prompt for the LV');
    const { slice: z, point: [cx, cy] } = lv.prompt;
    const firstSlice = sliceOf(first.labels, dims, z);
    // A negative click on the LV pixel farthest from the prompt's point (its edge).
    const [px, py] = farthestPixel(firstSlice, nx, 3, cx, cy);
    await page.evaluate((zz) => window.sss.api.goToSlice(zz), z);
    await page.evaluate(() => window.sss.api.selectClass(3));
    await page.click('#auto-propagate');
    assert.equal(await page.isChecked('#auto-propagate'), true, 'the checkbox turns it on');
    const runs = await page.evaluate(() => window.sss.lastVolume);
    assert.equal(await page.evaluate(([x, y]) => window.sss.api.click(3, x, y, false), [px, py]), true, 'previewed');
    await page.evaluate(() => window.sss.api.settled());
    const auto = await pageState(page);
    const afterClick = await page.evaluate(() => window.sss.lastVolume);
    assert.notDeepEqual(afterClick, runs, 'a propagation followed the click without Re-run');
    assert.ok(afterClick && !afterClick.stopped, 'it propagated every slice');
    assert.deepEqual(afterClick.prompts, auto.prompts, 'with the click in its prompts');
    assert.notEqual(sliceOf(/** @type {number[]} */ (auto.labels), dims, z)[py * nx + px], 3, 'the clicked pixel stays out of the LV');
    // What it shows is exactly what Re-run gives for the same prompts.
    const rerun = await volumeAfter(page, () => page.evaluate(() => window.sss.api.rerun()));
    assert.deepEqual(rerun.labels, auto.labels, 'the automatic propagation equals Re-run');
    // Undo: the prompts before the click, and a propagation brings the first masks back.
    assert.equal(await page.evaluate(() => window.sss.api.undo()), true);
    await page.evaluate(() => window.sss.api.settled());
    const undone = await pageState(page);
    assert.deepEqual(undone.prompts, first.prompts, 'the prompts before the click');
    assert.deepEqual(undone.labels, first.labels, 'the first masks, propagated again');
    // Off again: a click previews its slice only.
    await page.evaluate(() => window.sss.api.setAutoPropagate(false));
    assert.equal(await page.isChecked('#auto-propagate'), false);
    const before = await page.evaluate(() => window.sss.lastVolume);
    assert.equal(await page.evaluate(([x, y]) => window.sss.api.click(3, x, y, false), [px, py]), true);
    await page.evaluate(() => window.sss.api.settled());
    assert.deepEqual(await page.evaluate(() => window.sss.lastVolume), before, 'no propagation with it off');
    assert.match((await pageState(page)).timing, /Re-run propagates it/);
    assert.deepEqual([...errors, ...undone.errors], [], 'no error');
  } finally {
    await browser.close();
  }
});

test('the same correction on WebGPU shows the masks the CPU showed', { timeout: 300_000 }, async (t) => {
  if (!cpuCorrection) {
    assert.fail('the CPU correction test did not get as far as its first correction');
  }
  const { prompts, z, click, preview } = cpuCorrection;
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, server.url);
    assert.equal(await page.evaluate(() => window.sss.backend), 'WebGPU');
    // No segmentation first: the correction previews the slice from the prompts alone.
    await page.evaluate((p) => window.sss.api.setPrompts(p), prompts);
    await page.evaluate((z) => window.sss.api.goToSlice(z), z);
    const shown = await page.evaluate(([x, y]) => window.sss.api.click(3, x, y, false), click);
    assert.equal(shown, true);
    const s = await pageState(page);
    assert.ok(s.lastPreview, 'a preview');
    assert.equal(s.lastPreview.encoded, true);
    const dims = await page.evaluate(() => /** @type {NonNullable<typeof window.sss.scan>} */ (window.sss.scan).dims);
    const gpu = sliceOf(/** @type {number[]} */ (s.labels), dims, z);
    assert.equal(gpu.length, preview.length);
    const same = gpu.filter((l, i) => l === preview[i]).length / gpu.length;
    const dice = [1, 2, 3].map((c) => classDice(gpu, preview, c));
    t.diagnostic(`WebGPU vs CPU correction preview: ${(100 * same).toFixed(2)} % of pixels equal, Dice ${dice.map((d) => d.toFixed(4)).join(' ')}; ` +
      `${s.lastPreview.ms.toFixed(0)} ms on SwiftShader`);
    assert.ok(same >= 0.995, `${(100 * same).toFixed(2)} % of pixels agree`);
    for (const d of dice.filter((d) => !Number.isNaN(d))) assert.ok(d >= 0.98, `Dice ${d}`);
    assert.deepEqual([...errors, ...s.errors], []);
  } finally {
    await browser.close();
  }
});

test('the brush paints the picked class on the shown slice, the eraser takes it out, undo restores the masks exactly', { timeout: 300_000 }, async () => {
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
    const first = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
    const dims = first.dims;
    const [nx] = dims;
    const z = Math.floor(dims[2] / 2);
    await page.evaluate((z) => window.sss.api.goToSlice(z), z);
    await page.click('#prompts li[data-class="1"] .pick');
    await page.keyboard.press('b');
    assert.equal(await page.evaluate(() => /** @type {HTMLInputElement} */ (document.querySelector('input[name="tool"][value="brush"]')).checked), true, 'B picks the brush');
    assert.match(await page.textContent('#prompt-hint') ?? '', /Painting RV on this slice/);
    await page.$eval('#brush-size', (el) => {
      /** @type {HTMLInputElement} */ (el).value = '2';
      el.dispatchEvent(new Event('input'));
    });
    assert.equal(await page.textContent('#brush-size-out'), '2');
    /** Drags the mouse along slice pixels. @param {number[][]} pixels */
    const stroke = async (pixels) => {
      const points = await screenOf(page, pixels);
      await page.mouse.move(points[0].x, points[0].y);
      await page.mouse.down();
      for (const p of points.slice(1)) await page.mouse.move(p.x, p.y, { steps: 4 });
      await page.mouse.up();
    };
    // A stroke along row 10, from x = 8 to x = 30: in the image's corner, far from the heart.
    const row = 10;
    await stroke([[8, row], [30, row]]);
    let s = await pageState(page);
    const painted = sliceOf(/** @type {number[]} */ (s.labels), dims, z);
    const original = sliceOf(/** @type {number[]} */ (first.labels), dims, z);
    for (let x = 8; x <= 30; x++) assert.equal(painted[row * nx + x], 1, `pixel (${x}, ${row}) is painted`);
    for (let i = 0; i < painted.length; i++) {
      const [x, y] = [i % nx, Math.floor(i / nx)];
      const far = y < row - 3 || y > row + 3 || x < 5 || x > 33;
      if (far) assert.equal(painted[i], original[i], `pixel (${x}, ${y}) away from the stroke is unchanged`);
    }
    for (let k = 0; k < dims[2]; k++) {
      if (k !== z) {
        assert.deepEqual(sliceOf(/** @type {number[]} */ (s.labels), dims, k),
          sliceOf(/** @type {number[]} */ (first.labels), dims, k), `slice ${k} untouched`);
      }
    }
    assert.ok(s.undo, 'the stroke can be undone');

    // The eraser takes class 1 out where it goes, and only class 1.
    await page.keyboard.press('e');
    await stroke([[8, row], [30, row]]);
    s = await pageState(page);
    const erased = sliceOf(/** @type {number[]} */ (s.labels), dims, z);
    for (let x = 8; x <= 30; x++) assert.notEqual(erased[row * nx + x], 1, `pixel (${x}, ${row}) is erased`);
    for (let i = 0; i < erased.length; i++) {
      if (painted[i] !== 1) assert.equal(erased[i], painted[i], 'other classes stay');
    }

    // Undo twice: the first masks, exactly; redo: the painted stroke.
    await page.keyboard.press('Control+z');
    s = await pageState(page);
    assert.deepEqual(sliceOf(/** @type {number[]} */ (s.labels), dims, z), painted, 'undo takes the eraser stroke back');
    await page.keyboard.press('Control+z');
    s = await pageState(page);
    assert.deepEqual(s.labels, first.labels, 'undo restores the masks exactly');
    await page.keyboard.press('Control+Shift+z');
    s = await pageState(page);
    assert.deepEqual(sliceOf(/** @type {number[]} */ (s.labels), dims, z), painted, 'redo paints the stroke again');
    assert.deepEqual([...errors, ...s.errors], [], 'no error');
  } finally {
    await browser.close();
  }
});
