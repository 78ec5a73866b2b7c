// The model's WebGPU work per propagated slice (the page's `?gpu-counters`, web/js/gpu-counters.js),
// on SwiftShader: compute dispatches, queue submits, pipelines created and buffer read-backs,
// printed per slice with their median and largest (BENCHMARKS.md, "Page: WebGPU work per
// slice"). Asserts at most one read-back per propagated slice (the slice's labels; more would
// stall the GPU on each) and no pipeline created in a second run (all cached by the first).
// SwiftShader's counts are a real GPU's (the same calls); its timings are not.
// A run costs several seconds a slice on SwiftShader, so each run stops after a few slices
// (SSS_GPU_COUNTS_SLICES, default 2: the run stops once that many have come, and the slice the
// worker is on finishes; 0 propagates the whole volume).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { WEBGPU_FLAGS, launch, openPage, startServer, stopAfterSlices, volumeAfter } from './harness.mjs';
import { medianMax, sliceCounts, summarise } from '../../web/js/gpu-counters.js';

/** @typedef {import('../../web/js/protocol.js').GpuSliceCounts} GpuSliceCounts */
/** @typedef {import('../../web/js/protocol.js').WorkerStats} WorkerStats */

/** Slices per run before Stop (0: the whole volume). */
const SLICES = Number(process.env.SSS_GPU_COUNTS_SLICES ?? 2);

/** @type {Awaited<ReturnType<typeof startServer>>} */ let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.close(); });

/**
 * The worker's stats (wasm memory, WebGPU totals).
 * @param {import('playwright-core').Page} page
 * @returns {Promise<WorkerStats>}
 */
function stats(page) {
  return page.evaluate(() => window.sss.api.workerStats());
}

/**
 * Runs a propagation (`action`), stopped after SLICES slices unless 0, and returns the page's
 * outcome, the slices' counts and the worker's totals before and after.
 * @param {import('playwright-core').Page} page
 * @param {() => Promise<unknown>} action
 */
async function countedRun(page, action) {
  const before = await stats(page);
  if (SLICES > 0) await stopAfterSlices(page, SLICES);
  const result = await volumeAfter(page, action, 1_100_000);
  assert.deepEqual(result.errors, [], 'no error');
  /** @type {GpuSliceCounts[]} */
  const slices = await page.evaluate(() => window.sss.gpuCounts.slices);
  const afterRun = await stats(page);
  assert.ok(before.gpu && afterRun.gpu, 'the worker counts (?gpu-counters)');
  return { result, slices, total: sliceCounts(before.gpu, afterRun.gpu) };
}

/** @param {GpuSliceCounts} c */
const row = (c) => `${c.dispatches} dispatches, ${c.submits} submits, ${c.pipelines} pipelines, ` +
  `${c.readbacks} read-backs, ${c.copies} copies, ${c.liveBuffers} live buffers (${(c.liveBytes / 2 ** 20).toFixed(1)} MiB)`;

test('WebGPU work per propagated slice: at most one read-back, no pipeline made after the first run', { timeout: 1_800_000 }, async () => {
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { page, errors } = await openPage(browser, `${server.url}?gpu-counters`);
    const state = await page.evaluate(() => {
      const s = window.sss;
      return { backend: s.backend, reason: s.fallbackReason, kind: s.kind, enabled: s.gpuCounts.enabled, dims: s.scan?.dims };
    });
    assert.equal(state.backend, 'WebGPU', `backend (fallback reason: ${state.reason})`);
    assert.equal(state.kind, 'sss');
    assert.ok(state.enabled, '?gpu-counters is on');
    assert.ok(state.dims, 'the demo scan is open');
    const started = await stats(page);
    assert.ok(started.gpu, 'the worker counts from start-up');

    const first = await countedRun(page, () => page.evaluate(async () => window.sss.api.segment()));
    const second = await countedRun(page, () => page.evaluate(() => window.sss.api.rerun()));
    const nz = state.dims[2];
    for (const [name, run] of /** @type {const} */ ([['first run (coarse head, PCSW, propagation)', first], ['re-run', second]])) {
      const v = run.result.lastVolume;
      assert.ok(v, `${name}: a volume segmentation`);
      console.log(`${name}: ${v.propagated} of ${nz} slices propagated${v.stopped ? ' (stopped)' : ''}, ` +
        `${(v.ms / 1000).toFixed(1)} s on SwiftShader; the whole run: ${row(run.total)}`);
      run.slices.forEach((c, i) => console.log(`  slice ${i + 1}: ${row(c)}`));
      assert.equal(run.slices.length, v.propagated, 'counts for every propagated slice');
    }
    const slices = [...first.slices, ...second.slices];
    const summary = summarise(slices);
    const fmt = (/** @type {{median: number, max: number}} */ m) => `median ${m.median}, max ${m.max}`;
    console.log(`per propagated slice (${slices.length} slices, both runs): dispatches ${fmt(summary.dispatches)}; ` +
      `submits ${fmt(summary.submits)}; pipelines created ${fmt(summary.pipelines)}; read-backs ${fmt(summary.readbacks)}; ` +
      `copies ${fmt(summary.copies)}`);
    console.log(`pipelines created: ${started.gpu?.pipelines} at start-up, ${first.total.pipelines} in the first run, ` +
      `${second.total.pipelines} in the re-run; live buffers after each run: ${first.slices.at(-1)?.liveBuffers}, ` +
      `${second.slices.at(-1)?.liveBuffers}`);

    assert.ok(slices.length >= 2, `per-slice counts came (${slices.length})`);
    assert.ok(medianMax(slices.map((c) => c.dispatches)).median > 0, 'dispatches are counted');
    assert.ok(slices.every((c) => c.submits > 0), 'submits are counted');
    for (const [i, c] of slices.entries()) {
      assert.ok(c.readbacks <= 1, `slice ${i + 1}: ${c.readbacks} read-backs (at most one per slice)`);
    }
    assert.ok(first.total.pipelines > 0, 'the first run makes pipelines');
    assert.equal(second.total.pipelines, 0, 'the re-run makes no pipeline: all were cached by the first');
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
});
