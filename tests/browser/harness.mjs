// Shared set-up for the browser tests: a local static server, Debian's Chromium driven by
// playwright-core (never a downloaded browser), and a page wrapper that records page errors and
// every URL the page or its worker asks for; a NIfTI label reader and per-class Dice for
// scoring the page's masks against the demo scan's ground truth; a Stop after k slices.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import { chromium } from 'playwright-core';
import { serve } from '../../scripts/serve.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags that let headless Chromium run WebGPU on SwiftShader (CPU) in a closed network. */
const QUIET = ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/**
 * WebGPU on SwiftShader, with the GPU process on SwiftShader's Vulkan. With the WebGPU flags
 * alone (GL compositing) a WebGPU canvas on the page lost its instance ("A valid external
 * Instance reference no longer exists") and a second device in the page got the worker's
 * model device destroyed; with Vulkan both draw and compute work (seen 2026-11-25).
 */
export const WEBGPU_FLAGS = [...QUIET, '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader',
  '--disable-gpu-sandbox', '--enable-features=Vulkan', '--use-vulkan=swiftshader',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader'];
/** No WebGPU at all: the page must fall back to the CPU model and a 2-D canvas. */
export const NO_WEBGPU_FLAGS = [...QUIET, '--disable-gpu'];

/**
 * Launches Chromium (playwright gives every launch a fresh, temporary profile).
 * @param {string[]} args
 */
export function launch(args) {
  return chromium.launch({ executablePath: CHROMIUM, args });
}

/** Starts the static server on a free port. */
export function startServer() {
  return serve({ port: 0 });
}

/**
 * Opens the page and waits until start-up (runtime, weights, demo scan) has finished.
 * @param {import('playwright-core').Browser} browser
 * @param {string} url
 * @param {import('playwright-core').BrowserContextOptions} [options] for the new context
 */
export async function openPage(browser, url, options = {}) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 }, ...options });
  const page = await context.newPage();
  /** @type {string[]} */ const errors = [];
  /** @type {string[]} */ const requests = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  context.on('request', (r) => requests.push(r.url()));
  // A Content-Security-Policy violation is an error of the page (issue 11: none in any test).
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation', (e) => {
    console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
  }));
  /** The page's dedicated workers, as they start (a restarted model worker is one more). */
  /** @type {import('playwright-core').Worker[]} */ const workers = [];
  page.on('worker', (w) => {
    workers.push(w);
    w.on('console', (m) => {
      if (m.type() === 'error') errors.push(`worker console: ${m.text()}`);
    });
  });
  await page.goto(url);
  await page.waitForFunction(() => window.sss?.ready, null, { timeout: 300_000 });
  return { context, page, errors, requests, workers };
}

/**
 * Pixels of the slice canvas that carry colour (the grey scan has none; the overlay has), read
 * back from the renderer itself (WebGPU: a copy of the frame it rendered; 2-D: getImageData).
 * @param {import('playwright-core').Page} page
 */
export async function colouredPixels(page) {
  return page.evaluate(async () => {
    const { rgba } = await window.sssRenderer.readPixels();
    let count = 0;
    for (let i = 0; i < rgba.length; i += 4) {
      const [r, g, b] = [rgba[i], rgba[i + 1], rgba[i + 2]];
      if (Math.max(r, g, b) - Math.min(r, g, b) > 40) count++;
    }
    return count;
  });
}

/**
 * Clicks "Segment this slice" and returns the mask the page received.
 * @param {import('playwright-core').Page} page
 */
export async function segmentShownSlice(page) {
  await page.click('#segment');
  await page.waitForFunction(() => {
    const s = window.sss;
    return s.lastMask || s.errors.length;
  }, null, { timeout: 300_000 });
  return page.evaluate(() => {
    const s = window.sss;
    if (!s.lastMask) throw new Error(`no mask: ${s.errors.join('; ')}`);
    return { ...s.lastMask, dims: /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims,
      labels: Array.from(/** @type {Uint8Array} */ (s.masks.get(s.lastMask.z))) };
  });
}

/** The query that loads the slice network instead of the default SSS weights. */
export const SLICE_NET = '?weights=assets/weights/slice-net-cardiac.json';

/**
 * SSS: runs `action` (a click, an API call) and waits until the page has finished a volume
 * segmentation or reported an error; returns the outcome with the whole label map.
 * @param {import('playwright-core').Page} page
 * @param {() => Promise<unknown>} action
 * @param {number} [timeout] ms
 */
export async function volumeAfter(page, action, timeout = 300_000) {
  const seen = await page.evaluate(() => {
    const w = window;
    w.__seenVolume = w.sss.lastVolume;
    return w.sss.errors.length;
  });
  await action();
  await page.waitForFunction((n) => {
    const w = window;
    return !w.sss.busy && (w.sss.lastVolume !== w.__seenVolume || w.sss.errors.length > n);
  }, seen, { timeout, polling: 250 });
  return page.evaluate((n) => {
    const s = window.sss;
    return {
      errors: s.errors.slice(n),
      lastVolume: s.lastVolume,
      prompts: s.prompts,
      autoPrompts: s.autoPrompts,
      dims: /** @type {NonNullable<typeof s.scan>} */ (s.scan).dims,
      labels: s.labels ? Array.from(s.labels) : null,
      masks: s.masks.size,
    };
  }, seen);
}

/**
 * Resolves once the page has run two animation frames from now: the page draws (slice, overlay,
 * prompt layer) in the animation frame after a change, so what the last action changed is drawn
 * by then. An event to wait on, not a fixed sleep.
 * @param {import('playwright-core').Page} page
 */
export async function drawn(page) {
  await page.evaluate(() => new Promise((done) => {
    requestAnimationFrame(() => requestAnimationFrame(() => done(undefined)));
  }));
}

/**
 * Pixels of the prompt layer (the canvas over the slice) within 12 of colour `rgb` and opaque.
 * @param {import('playwright-core').Page} page
 * @param {number[]} rgb
 */
export async function promptLayerPixels(page, rgb) {
  await drawn(page);
  return page.evaluate((rgb) => {
    const canvas = /** @type {HTMLCanvasElement} */ (document.getElementById('prompt-layer'));
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - rgb[0]) <= 12 && Math.abs(data[i + 1] - rgb[1]) <= 12 &&
        Math.abs(data[i + 2] - rgb[2]) <= 12) count++;
    }
    return count;
  }, rgb);
}

/**
 * Voxels per label of a label map.
 * @param {number[]} labels
 * @param {number} k labels 0..k-1
 */
export function countLabels(labels, k) {
  const counts = new Array(k).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

/**
 * A NIfTI-1 label map read in node (gzip or not): its dims `[nx, ny, nz]` and its voxels
 * rounded to integers, x fastest. Enough for the demo's labels (u8, i16, u16, i32, f32, f64;
 * little-endian); anything else is refused.
 * @param {string} path
 */
export function readNiftiLabels(path) {
  let bytes = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getInt32(0, true) !== 348) throw new Error(`${path}: not a little-endian NIfTI-1 file`);
  const dims = [1, 2, 3].map((i) => view.getInt16(40 + 2 * i, true));
  const datatype = view.getInt16(70, true);
  const offset = view.getFloat32(108, true);
  const n = dims[0] * dims[1] * dims[2];
  /** @type {Record<number, [number, (o: number) => number]>} */
  const readers = {
    2: [1, (o) => view.getUint8(o)],
    4: [2, (o) => view.getInt16(o, true)],
    8: [4, (o) => view.getInt32(o, true)],
    16: [4, (o) => view.getFloat32(o, true)],
    64: [8, (o) => view.getFloat64(o, true)],
    512: [2, (o) => view.getUint16(o, true)],
  };
  const reader = readers[datatype];
  if (!reader) throw new Error(`${path}: NIfTI datatype ${datatype} is not read here`);
  const [size, read] = reader;
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.round(read(offset + i * size));
  return { dims, labels };
}

/**
 * Dice of class `c` between two label maps of equal length.
 * @param {ArrayLike<number>} a
 * @param {ArrayLike<number>} b
 * @param {number} c
 */
export function classDice(a, b, c) {
  if (a.length !== b.length) throw new Error(`label maps of ${a.length} and ${b.length} voxels`);
  let both = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i] === c, b[i] === c];
    if (x && y) both++;
    sum += Number(x) + Number(y);
  }
  return sum ? (2 * both) / sum : 1;
}

/**
 * The 26-connected 3-D components of a label map's foreground (x fastest), two neighbouring
 * foreground voxels joined when `joins(a, b)` says so for their labels (the same class, or any
 * foreground): each voxel's component id (−1 for the background) in raster order of the
 * components' first voxels, and each component's size.
 * @param {ArrayLike<number>} labels
 * @param {[number, number, number]} dims
 * @param {(a: number, b: number) => boolean} joins
 */
export function components3d(labels, [nx, ny, nz], joins) {
  const component = new Int32Array(labels.length).fill(-1);
  /** @type {number[]} */ const sizes = [];
  for (let start = 0; start < labels.length; start++) {
    if (labels[start] === 0 || component[start] >= 0) continue;
    const id = sizes.length;
    let size = 0;
    component[start] = id;
    const stack = [start];
    while (stack.length) {
      const v = /** @type {number} */ (stack.pop());
      size++;
      const x = v % nx, y = Math.floor(v / nx) % ny, z = Math.floor(v / (nx * ny));
      for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
        const [qx, qy, qz] = [x + dx, y + dy, z + dz];
        if (qx < 0 || qy < 0 || qz < 0 || qx >= nx || qy >= ny || qz >= nz) continue;
        const q = (qz * ny + qy) * nx + qx;
        if (labels[q] !== 0 && component[q] < 0 && joins(labels[v], labels[q])) { component[q] = id; stack.push(q); }
      }
    }
    sizes.push(size);
  }
  return { component, sizes };
}

/**
 * Screen (CSS) positions of slice pixels' centres under the renderer's view (zoom, pan and the
 * display's flips and transpose: web/js/orientation.js), for the mouse.
 * @param {import('playwright-core').Page} page
 * @param {number[][]} pixels `[x, y]` slice pixels
 * @returns {Promise<{x: number, y: number}[]>}
 */
export function screenOf(page, pixels) {
  return page.evaluate((pixels) => {
    const view = window.sssRenderer.view;
    const [a, b, c, d] = view.axes ?? [1, 0, 0, 1];
    const rect = /** @type {HTMLElement} */ (document.getElementById('stage')).getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    return pixels.map(([x, y]) => ({
      x: rect.left + (view.offsetX + view.scale * (a * (x + 0.5) + c * (y + 0.5))) / dpr,
      y: rect.top + (view.offsetY + view.scale * (b * (x + 0.5) + d * (y + 0.5))) / dpr,
    }));
  }, pixels);
}

/**
 * SSS: has the page stop its next propagation once `k` slices have come (the worker ends after
 * the slice it is on, so one more may come). Call before starting the run; the listener goes
 * with the run's last slice, whether it stopped or ran to the end.
 * @param {import('playwright-core').Page} page
 * @param {number} k
 */
export async function stopAfterSlices(page, k) {
  await page.evaluate((k) => {
    const w = window;
    const onSlice = (/** @type {any} */ e) => {
      if (e.detail.done < k && e.detail.done < e.detail.total) return;
      removeEventListener('sss-slice', onSlice);
      if (e.detail.done < e.detail.total) w.sss.api.stop();
    };
    addEventListener('sss-slice', onSlice);
  }, k);
}
