// The page's benchmark (not a test; run by scripts/bench-page.sh, which builds first): in headless
// Debian Chromium, for the page's default SSS weights, on the wasm CPU backend (flex) and on
// WebGPU, SAM-2's stages per slice timed in the model worker (`sss.api.benchStages`: image
// encoder, prompt encoder + mask decoder, one propagation step; first run and median, the
// crate's `stage_timing`, which `sss bench` shares) and the demo volume segmented twice (first
// run and warm: PCSW's prompts, then propagation per slice). Native flex's stages come from
// `sss bench --manifest` on the same machine in the same run (its JSON on stdin, one object per
// thread count), so the wasm-flex / native-flex ratio compares the same work. Writes the
// results between the markers of BENCHMARKS.md's "Page: SAM-2 stages per slice" section (or
// prints them with --print).
//
// Usage: node tests/browser/bench-page.mjs NATIVE_JSON [--iters N] [--warmup N] [--gpu-iters N]
//        [--no-webgpu] [--print]
// NATIVE_JSON: a file holding {"profile": "release"|"dev", "threads": {"1": BenchResult,
// "all": BenchResult}} (bench-page.sh).

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

import { WEBGPU_FLAGS, launch, openPage, startServer, volumeAfter } from './harness.mjs';

/** @typedef {import('../../web/js/protocol.js').StageTimings} StageTimings */

/**
 * `sss bench`'s JSON for one config (crate/src/cli/bench.rs, `BenchResult`).
 * @typedef {{config: string, image_size: number, iters: number, image_encoder_ms: number,
 *   prompt_and_decoder_ms: number, propagation_step_ms: number, image_encoder_first_ms: number,
 *   prompt_and_decoder_first_ms: number, propagation_step_first_ms: number}} NativeResult
 */

/**
 * One backend's readings in the page.
 * @typedef {{backend: string, stages: StageTimings, volumes: {promptsMs: number,
 *   propagateMs: number, slices: number}[]}} PageReading
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BENCHMARKS = `${ROOT}/BENCHMARKS.md`;
const START = '<!-- bench-page:start -->';
const END = '<!-- bench-page:end -->';

/**
 * The value after `--name`, as a number, or `fallback`.
 * @param {string} name
 * @param {number} fallback
 */
function numberArg(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

/**
 * Opens the page on one backend, times SAM-2's stages first (so that their first runs include
 * what a fresh page compiles), then segments the demo volume twice.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {string} expectedBackend
 * @param {number} iters
 * @param {number} warmup
 * @returns {Promise<PageReading>}
 */
async function readPage(browser, url, expectedBackend, iters, warmup) {
  const { context, page, errors } = await openPage(browser, url);
  try {
    const backend = await page.evaluate(() => window.sss.backend);
    if (backend !== expectedBackend) throw new Error(`the page runs on ${backend}, not ${expectedBackend}`);
    process.stderr.write(`${backend}: timing SAM-2's stages (${iters} runs after ${warmup} warm-up)\n`);
    const stages = await page.evaluate(([n, w]) => window.sss.api.benchStages(n, w), [iters, warmup]);
    /** @type {PageReading['volumes']} */ const volumes = [];
    for (const run of ['first', 'warm']) {
      process.stderr.write(`${backend}: segmenting the demo volume (${run})\n`);
      const result = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()), 3_600_000);
      if (result.errors.length || !result.lastVolume) throw new Error(`segmentation failed: ${result.errors.join('; ')}`);
      const { promptsMs, propagateMs, slices } = result.lastVolume;
      volumes.push({ promptsMs, propagateMs, slices });
    }
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    return { backend, stages, volumes };
  } finally {
    await context.close();
  }
}

/** @param {number} ms */
const fmt = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/**
 * The markdown section.
 * @param {{profile: string, threads: Record<string, NativeResult>}} native
 * @param {PageReading[]} pages
 * @param {string} chromium
 * @param {number} gpuIters
 */
function section(native, pages, chromium, gpuIters) {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const one = native.threads['1'];
  const all = native.threads.all;
  const wasm = pages.find((p) => p.backend === 'flex (CPU)');
  /** @type {[string, keyof StageTimings & ('image_encoder'|'prompt_and_decoder'|'propagation_step')][]} */
  const stages = [['image encoder', 'image_encoder'], ['prompt encoder + mask decoder', 'prompt_and_decoder'],
    ['propagation step (memory bank full)', 'propagation_step']];
  const lines = [
    START,
    `Measured ${new Date().toISOString().slice(0, 10)} by \`scripts/bench-page.sh\` at commit \`${commit}\`: ${cpu}, ` +
      `${os.cpus().length} cores, Debian Chromium ${chromium} headless (WebGPU on SwiftShader, emulated on the CPU: ` +
      'its times say nothing about a real GPU). The page\'s default weights ' +
      `(SAM-2 \`${one.config}\` at ${one.image_size}²), a randomly initialised model of the same config for the stages. ` +
      `Medians of ${one.iters} runs (WebGPU: ${gpuIters}) after the first run and a warm-up; the first run in brackets ` +
      '(on WebGPU it includes compiling the stage\'s pipelines). Native: `sss bench --manifest` ' +
      (native.profile === 'release' ? '(release build), '
        : `(**${native.profile} build**: the sss crate at a lower optimisation level than in a release build), `) +
      'flex on one thread (the wasm build has no threads) and on all cores.',
    '',
    '| stage, ms | native flex, 1 thread | native flex, all cores | wasm flex (page, CPU) | WebGPU (page, SwiftShader) | wasm / native (1 thread) |',
    '|---|---|---|---|---|---|',
  ];
  const gpu = pages.find((p) => p.backend === 'WebGPU');
  for (const [name, key] of stages) {
    const nativeOne = /** @type {number} */ (one[`${key}_ms`]);
    const cell = (/** @type {number} */ median, /** @type {number} */ first) => `${fmt(median)} (${fmt(first)})`;
    const wasmCell = wasm ? cell(wasm.stages[key].median_ms, wasm.stages[key].first_ms) : 'not run';
    const gpuCell = gpu ? cell(gpu.stages[key].median_ms, gpu.stages[key].first_ms) : 'not run';
    const ratio = wasm ? (wasm.stages[key].median_ms / nativeOne).toFixed(2) : '–';
    lines.push(`| ${name} | ${cell(nativeOne, one[`${key}_first_ms`])} | ` +
      `${cell(all[`${key}_ms`], all[`${key}_first_ms`])} | ${wasmCell} | ${gpuCell} | ${ratio} |`);
  }
  lines.push('', '| whole demo volume in the page | PCSW prompts (coarse head), first / warm | propagation per slice, first / warm |',
    '|---|---|---|');
  for (const p of pages) {
    const [first, warm] = p.volumes;
    lines.push(`| ${p.backend}, ${first.slices} slices | ${fmt(first.promptsMs)} / ${fmt(warm.promptsMs)} ms | ` +
      `${fmt(first.propagateMs / first.slices)} / ${fmt(warm.propagateMs / warm.slices)} ms |`);
  }
  lines.push(END);
  return lines.join('\n');
}

async function main() {
  const nativePath = process.argv[2];
  if (!nativePath || nativePath.startsWith('--')) throw new Error('usage: bench-page.mjs NATIVE_JSON [options]');
  const native = JSON.parse(readFileSync(nativePath, 'utf8'));
  const iters = numberArg('iters', 10);
  const warmup = numberArg('warmup', 2);
  const gpuIters = numberArg('gpu-iters', 3);
  const server = await startServer();
  const browser = await launch(WEBGPU_FLAGS);
  try {
    /** @type {PageReading[]} */ const pages = [];
    pages.push(await readPage(browser, `${server.url}?model=cpu`, 'flex (CPU)', iters, warmup));
    if (!process.argv.includes('--no-webgpu')) {
      pages.push(await readPage(browser, server.url, 'WebGPU', gpuIters, 1));
    }
    const text = section(native, pages, browser.version(), gpuIters);
    if (process.argv.includes('--print')) {
      process.stdout.write(`${text}\n`);
      return;
    }
    const doc = readFileSync(BENCHMARKS, 'utf8');
    const [from, to] = [doc.indexOf(START), doc.indexOf(END)];
    if (from < 0 || to < from) throw new Error(`${BENCHMARKS} has no ${START} … ${END} section`);
    writeFileSync(BENCHMARKS, doc.slice(0, from) + text + doc.slice(to + END.length));
    process.stdout.write(`${text}\nwritten to BENCHMARKS.md\n`);
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  process.stderr.write(`bench-page: ${e instanceof Error ? e.message : e}\n`);
  process.exit(1);
});
