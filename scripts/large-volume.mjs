// Diagnostic (not a test): a large CT in the page. Writes a 512 × 512 × N int16 head-like CT
// (N = 400 by default: 210 MB as .nii) to a temporary file, opens it in headless Chromium on the
// wasm CPU backend (brain-CT weights, picked by the page for CT), segments it, and samples the
// memory of all Chromium processes (RSS) every 250 ms, the model worker's wasm memory after
// opening and after segmenting (it never shrinks: its high-water mark), and the page's JS heap
// at the end.
// RELIABILITY.md, "A large CT in the page", ran it. Needs `scripts/build-web.sh` first.
// Usage: node scripts/large-volume.mjs [SLICES]

import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { NO_WEBGPU_FLAGS, launch, openPage, startServer } from '../tests/browser/harness.mjs';

const [nx, ny, nz] = [512, 512, Number(process.argv[2] ?? 400)];

/** A NIfTI-1 int16 CT: air −1000, a skull ellipsoid 800, brain 35, a bleed 70, noise ±5 HU. */
function headCt() {
  const header = Buffer.alloc(352);
  header.writeInt32LE(348, 0);
  [3, nx, ny, nz, 1, 1, 1, 1].forEach((d, i) => header.writeInt16LE(d, 40 + 2 * i));
  header.writeInt16LE(4, 70); // int16
  header.writeInt16LE(16, 72);
  [1, 0.45, 0.45, 0.6, 1, 1, 1, 1].forEach((p, i) => header.writeFloatLE(p, 76 + 4 * i));
  header.writeFloatLE(352, 108);
  header.writeFloatLE(1, 112);
  header[123] = 2;
  header.writeInt16LE(1, 254); // sform
  [[0.45, 0, 0, -115], [0, 0.45, 0, -115], [0, 0, 0.6, -120]].forEach((row, r) =>
    row.forEach((v, c) => header.writeFloatLE(v, 280 + 16 * r + 4 * c)));
  header.write('n+1\0', 344, 'latin1');
  const data = Buffer.alloc(nx * ny * nz * 2);
  let seed = 1;
  for (let z = 0; z < nz; z++) {
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const r = Math.hypot((x - 256) / 200, (y - 256) / 230, (z - nz / 2) / (nz * 0.47));
        const bleed = Math.hypot((x - 330) / 30, (y - 220) / 25, (z - nz / 2 - 10) / 20) < 1;
        let v = r < 0.93 ? (bleed ? 70 : 35) : r < 1 ? 800 : -1000;
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        v += ((seed / 0x7fffffff) - 0.5) * 10;
        data.writeInt16LE(Math.round(v), 2 * ((z * ny + y) * nx + x));
      }
    }
  }
  return Buffer.concat([header, data]);
}

const dir = mkdtempSync(join(tmpdir(), 'sss-large-'));
const file = join(dir, `ct-${nx}x${ny}x${nz}.nii`);
writeFileSync(file, headCt());
const server = await startServer();
const browser = await launch(NO_WEBGPU_FLAGS);
try {
  const { page, errors } = await openPage(browser, `${server.url}?model=cpu`);
  const rss = () => Number(execSync("ps -eo rss,comm | awk '/chrom/ {s+=$1} END {print s}'").toString().trim()) / 1024;
  const base = rss();
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, rss()); }, 250);
  const opening = Date.now();
  await page.setInputFiles('#file', file);
  const name = file.split('/').pop();
  await page.waitForFunction((n) => /** @type {any} */ (window).sss.scan?.name === n && !(/** @type {any} */ (window).sss.busy), name, { timeout: 600_000 });
  const wasmMb = async () => Math.round((await page.evaluate(() => /** @type {any} */ (window).sss.api.workerStats())).wasmMemoryBytes / 1048576);
  const opened = { seconds: (Date.now() - opening) / 1000, peak_rss_mb: Math.round(peak), rss_mb: Math.round(rss()), wasm_memory_mb: await wasmMb() };
  const segmenting = Date.now();
  // Not the harness's volumeAfter: it copies the label map into node, too large here.
  const run = await page.evaluate(async () => {
    const s = /** @type {any} */ (window).sss;
    const seen = s.errors.length;
    await s.api.segment();
    while (s.busy) await new Promise((r) => setTimeout(r, 250));
    const counts = s.lastVolume?.counts ?? null;
    return { lastVolume: s.lastVolume ? { ms: s.lastVolume.ms, counts } : null, errors: s.errors.slice(seen) };
  });
  clearInterval(timer);
  const heap = await page.evaluate(() => /** @type {any} */ (performance).memory?.usedJSHeapSize / 1048576);
  console.log(JSON.stringify({
    scan: `${nx}×${ny}×${nz} int16 (${((nx * ny * nz * 2) / 1e6).toFixed(0)} MB)`,
    weights: await page.evaluate(() => /** @type {any} */ (window).sss.manifest?.name),
    base_rss_mb: Math.round(base), opened,
    segment: { seconds: (Date.now() - segmenting) / 1000, ok: !!run.lastVolume && run.errors.length === 0, voxels_per_class: run.lastVolume?.counts, errors: [...errors, ...run.errors] },
    peak_rss_mb: Math.round(peak), wasm_memory_mb: await wasmMb(), page_js_heap_mb: Math.round(heap),
  }, null, 1));
} finally {
  await browser.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
