// The page's soak (issue 11, item 7; RELIABILITY.md, "Soak: the page"), shared by
// soak.test.mjs (the test command: a few cycles on the CPU) and soak-webgpu.mjs (run by
// scripts/soak-page.sh only: a cycle takes minutes on SwiftShader). One cycle: open a scan
// (the cardiac demo, alternately its NIfTI file and its DICOM series, through the file and
// folder pickers), segment it, re-run it stopped after its first slice, re-run it to the end
// (on SwiftShader, where a slice takes seconds, both runs are stopped after their first slice).
// After each cycle it reads the model worker's wasm memory (`memory.buffer.byteLength`), the
// page's JS heap after a forced garbage collection (CDP), the workers started and, on WebGPU,
// the buffers alive (`?gpu-counters`). Bounds: one worker (no restart), every complete run's
// voxels per class equal to the first of the same file's, and after the first cycle no growth
// of the JS heap beyond HEAP_SLACK, of the wasm memory beyond WASM_SLACK and of the live
// buffers at all.

import assert from 'node:assert/strict';

import { launch, openPage, stopAfterSlices, volumeAfter } from './harness.mjs';

/** @typedef {import('../../web/js/protocol.js').WorkerStats} WorkerStats */

const MiB = 2 ** 20;
/**
 * The JS heap's allowed growth after the first cycle. The page keeps one scan's voxels
 * (128×128×11 f32: 0.7 MiB) and its label maps: a scan or a label map kept per cycle fails it
 * within two cycles.
 */
const HEAP_SLACK = 1 * MiB;
/**
 * The wasm memory's allowed growth after the first cycle. It grows in the allocator's steps
 * and never shrinks, so one step is allowed. A volume's copies kept per cycle in the worker
 * (the f32 voxels and the coarse head's probabilities of 4 classes: 3.4 MiB) fail it within 6
 * cycles; the long run (scripts/soak-page.sh, 50 cycles) fails on 0.33 MiB a cycle.
 */
const WASM_SLACK = 16 * MiB;

const DEMO = new URL('../../web/assets/demo/', import.meta.url);
/** The scans the cycles open in turn: the demo as a NIfTI file, then as a DICOM series. */
const SCANS = [
  { name: 'demo-dicom', input: '#folder', path: new URL('demo-dicom/', DEMO).pathname },
  { name: 'demo.nii.gz', input: '#file', path: new URL('demo.nii.gz', DEMO).pathname },
];

/**
 * Opens a scan through its picker and waits until the page has it open.
 * @param {import('playwright-core').Page} page
 * @param {typeof SCANS[number]} scan
 */
async function openScan(page, scan) {
  await page.evaluate(() => { const w = window; w.__scanBefore = w.sss.scan; });
  await page.setInputFiles(scan.input, scan.path);
  await page.waitForFunction(() => {
    const w = window;
    return (w.sss.scan !== w.__scanBefore || w.sss.errors.length) && !w.sss.busy;
  }, null, { timeout: 120_000, polling: 100 });
  // The old scan's reference goes, or the heap would keep its voxels.
  const opened = await page.evaluate(() => {
    const w = window;
    delete w.__scanBefore;
    return { name: w.sss.scan?.name, errors: w.sss.errors };
  });
  assert.deepEqual(opened.errors, [], 'the scan opens');
  assert.equal(opened.name, scan.name);
}

/**
 * The readings after a cycle: the page's JS heap after a garbage collection, the worker's wasm
 * memory and live WebGPU buffers (null without `?gpu-counters`).
 * @param {import('playwright-core').Page} page
 * @param {import('playwright-core').CDPSession} cdp
 */
async function measure(page, cdp) {
  /** @type {WorkerStats} */
  const stats = await page.evaluate(() => window.sss.api.workerStats());
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return { heap: usedSize, wasm: stats.wasmMemoryBytes, liveBuffers: stats.gpu?.liveBuffers ?? null };
}

/**
 * Runs `cycles` cycles on one backend and checks the bounds.
 * @param {{url: string, label: string, flags: string[], query: string, backend: string,
 *   cycles: number, complete: boolean}} setup `complete`: the first run and the second re-run go to the end
 *   (else the first run is stopped after its first slice, and there is no second re-run)
 */
export async function soak({ url, label, flags, query, backend, cycles, complete }) {
  const browser = await launch(flags);
  try {
    const { page, errors, workers } = await openPage(browser, url + query);
    assert.equal(await page.evaluate(() => window.sss.backend), backend);
    const cdp = await page.context().newCDPSession(page);
    const api = (/** @type {'segment'|'rerun'} */ name) => () => page.evaluate(async (n) => window.sss.api[n](), name);
    const start = await measure(page, cdp);
    /** @type {Awaited<ReturnType<typeof measure>>[]} */ const readings = [];
    /** The first complete run's voxels per class, by scan. @type {Record<string, number[]>} */
    const counts = {};
    const soakStarted = Date.now();
    for (let cycle = 0; cycle < cycles; cycle++) {
      const cycleStarted = Date.now();
      const scan = SCANS[cycle % SCANS.length];
      await openScan(page, scan);
      if (!complete) await stopAfterSlices(page, 1);
      const first = await volumeAfter(page, api('segment'), 1_100_000);
      assert.deepEqual(first.errors, [], `cycle ${cycle + 1}: the run succeeds`);
      assert.ok(first.lastVolume, `cycle ${cycle + 1}: a volume segmentation`);
      assert.equal(first.lastVolume.stopped, !complete);
      await stopAfterSlices(page, 1);
      const stopped = await volumeAfter(page, api('rerun'), 1_100_000);
      assert.deepEqual(stopped.errors, [], `cycle ${cycle + 1}: a stop is no error`);
      assert.ok(stopped.lastVolume, `cycle ${cycle + 1}: a volume segmentation`);
      assert.ok(stopped.lastVolume.stopped && stopped.lastVolume.propagated < stopped.lastVolume.slices,
        `cycle ${cycle + 1}: the re-run stopped early (${stopped.lastVolume.propagated} slices)`);
      if (complete) {
        const again = await volumeAfter(page, api('rerun'));
        assert.deepEqual(again.errors, [], `cycle ${cycle + 1}: the re-run succeeds`);
        assert.ok(again.lastVolume, `cycle ${cycle + 1}: a volume segmentation`);
        assert.equal(again.lastVolume.stopped, false);
        for (const volume of [first.lastVolume, again.lastVolume]) {
          counts[scan.name] ??= volume.counts;
          assert.deepEqual(volume.counts, counts[scan.name], `cycle ${cycle + 1}: the same masks as the first cycle`);
        }
      }
      const reading = await measure(page, cdp);
      readings.push(reading);
      console.log(`${label} cycle ${cycle + 1} (${scan.name}): wasm memory ${(reading.wasm / MiB).toFixed(1)} MiB, ` +
        `JS heap ${(reading.heap / MiB).toFixed(2)} MiB` +
        (reading.liveBuffers === null ? '' : `, live WebGPU buffers ${reading.liveBuffers}`) +
        `, ${workers.length} worker(s), ${((Date.now() - cycleStarted) / 1000).toFixed(1)} s`);
    }
    const [one, last] = [readings[0], readings[readings.length - 1]];
    const heapGrowth = Math.max(...readings.map((r) => r.heap)) - one.heap;
    const wasmGrowth = last.wasm - one.wasm;
    console.log(`${label}, ${cycles} cycles in ${((Date.now() - soakStarted) / 1000).toFixed(0)} s: wasm memory ` +
      `${(start.wasm / MiB).toFixed(1)} MiB at start-up → ${(one.wasm / MiB).toFixed(1)} after cycle 1 → ` +
      `${(last.wasm / MiB).toFixed(1)} at the end; JS heap ${(start.heap / MiB).toFixed(2)} → ${(one.heap / MiB).toFixed(2)} → ` +
      `${(last.heap / MiB).toFixed(2)} MiB (most growth after cycle 1: ${(heapGrowth / 1024).toFixed(0)} KiB); ` +
      `${workers.length} worker(s)` +
      (one.liveBuffers === null ? '' : `; live buffers per cycle ${readings.map((r) => r.liveBuffers).join('/')}`));

    assert.equal(workers.length, 1, 'one model worker all along (no restart)');
    assert.ok(heapGrowth <= HEAP_SLACK, `the JS heap grew ${(heapGrowth / 1024).toFixed(0)} KiB after cycle 1`);
    assert.ok(wasmGrowth <= WASM_SLACK, `the wasm memory grew ${(wasmGrowth / MiB).toFixed(1)} MiB after cycle 1`);
    if (one.liveBuffers !== null) {
      for (const [i, r] of readings.entries()) {
        assert.ok(/** @type {number} */ (r.liveBuffers) <= one.liveBuffers,
          `live WebGPU buffers after cycle ${i + 1}: ${r.liveBuffers}, after cycle 1: ${one.liveBuffers}`);
      }
    }
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
  }
}
