// Shared set-up for the browser tests: a local static server, Debian's Chromium driven by
// playwright-core (never a downloaded browser), and a page wrapper that records page errors and
// every URL the page or its worker asks for.

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
 */
export async function openPage(browser, url) {
  const context = await browser.newContext({ viewport: { width: 900, height: 640 } });
  const page = await context.newPage();
  /** @type {string[]} */ const errors = [];
  /** @type {string[]} */ const requests = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`); });
  context.on('request', (r) => requests.push(r.url()));
  page.on('worker', (w) => w.on('console', (m) => {
    if (m.type() === 'error') errors.push(`worker console: ${m.text()}`);
  }));
  await page.goto(url);
  await page.waitForFunction(() => /** @type {any} */ (window).sss?.ready, null, { timeout: 300_000 });
  return { context, page, errors, requests };
}

/**
 * Pixels of the slice canvas that carry colour (the grey scan has none; the overlay has), read
 * back from the renderer itself (WebGPU: a copy of the frame it rendered; 2-D: getImageData).
 * @param {import('playwright-core').Page} page
 */
export async function colouredPixels(page) {
  return page.evaluate(async () => {
    const { rgba } = await /** @type {any} */ (window).sssRenderer.readPixels();
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
    const s = /** @type {any} */ (window).sss;
    return s.lastMask || s.errors.length;
  }, null, { timeout: 300_000 });
  return page.evaluate(() => {
    const s = /** @type {any} */ (window).sss;
    if (!s.lastMask) throw new Error(`no mask: ${s.errors.join('; ')}`);
    return { ...s.lastMask, dims: s.scan.dims, labels: Array.from(s.masks.get(s.lastMask.z)) };
  });
}
