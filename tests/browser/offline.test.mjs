// Offline use and publishing (issue 10, item 5). After a first visit, the service worker
// (web/sw.js) has kept the page, the wasm package, the shaders, the weights and the demo scan:
// with the server stopped and the browser offline, a reload opens the page and segments the
// demo scan as well as online, every request answered by the service worker and none failing.
// Where service workers are refused the page works online as before. scripts/publish.sh builds
// a folder that a plain static server serves under a path prefix: the page segments with no
// request outside the prefix, reloads offline from its cache (cache first, the published
// build), and a new deploy (another build id) replaces the kept files.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { test } from 'node:test';

import {
  NO_WEBGPU_FLAGS, WEBGPU_FLAGS, classDice, launch, openPage, readNiftiLabels, startServer, volumeAfter,
} from './harness.mjs';

const ROOT = new URL('../../', import.meta.url);

/** @type {Record<string, string>} */
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.wgsl': 'text/plain',
  '.gz': 'application/gzip', '.txt': 'text/plain',
};

/**
 * A plain static file server, as any host would be: the files of `dir` under URL path
 * `prefix` (no Content-Security-Policy header, no other rules), 404 for anything else. It
 * records every path asked for.
 * @param {string} dir
 * @param {string} prefix starts and ends with '/'
 */
async function staticServer(dir, prefix) {
  /** @type {string[]} */ const paths = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    paths.push(path);
    let file = path.startsWith(prefix) ? normalize(join(dir, path.slice(prefix.length))) : null;
    if (file && file !== dir && !file.startsWith(dir + sep)) file = null;
    try {
      if (!file) throw new Error('outside');
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const size = statSync(file).size;
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': size });
      createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', () => done(null)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    paths,
    close: () => new Promise((done) => { server.closeAllConnections(); server.close(() => done(null)); }),
  };
}

/**
 * Waits in the page until its service worker has installed and activated the next deploy: the
 * only cache left is `sss-offline-next-deploy` and it holds the changed style.css. Checked once
 * listeners are on the registration, then again at each of its workers' steps (updatefound,
 * statechange, controllerchange), not on a timer: a worker is `activated` only after its
 * activate handler (which deletes the old caches, then claims the page) has finished, so the
 * last step is always seen, whether it happened before the listeners or after.
 * @param {import('playwright-core').Page} page
 * @param {number} timeout ms
 */
async function nextDeployActivated(page, timeout) {
  await page.evaluate(async (ms) => {
    const installed = async () => {
      const names = await caches.keys();
      if (names.length !== 1 || names[0] !== 'sss-offline-next-deploy') return false;
      const css = await caches.match(new URL('style.css', location.href).href);
      return !!css && (await css.text()).includes('next deploy');
    };
    const registration = await navigator.serviceWorker.getRegistration();
    if (!registration) throw new Error('the page has no service worker registration');
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the next deploy was not activated within ${ms} ms`)), ms);
      const check = () => installed().then((yes) => { if (yes) { clearTimeout(timer); resolve(null); } }, reject);
      const watch = (/** @type {ServiceWorker|null} */ worker) => worker?.addEventListener('statechange', check);
      registration.addEventListener('updatefound', () => watch(registration.installing));
      [registration.installing, registration.waiting, registration.active].forEach(watch);
      navigator.serviceWorker.addEventListener('controllerchange', check);
      check();
    });
  }, timeout);
}

/**
 * Records, from now on, every request of the context that failed and every response with
 * whether the service worker answered it (page and model worker) or fetched it itself.
 * @param {import('playwright-core').BrowserContext} context
 */
function recordTraffic(context) {
  const traffic = {
    /** @type {{url: string, error: string, byServiceWorker: boolean}[]} */ failed: [],
    /** @type {{url: string, fromServiceWorker: boolean, byServiceWorker: boolean}[]} */ responses: [],
  };
  context.on('requestfailed', (r) => traffic.failed.push({
    url: r.url(), error: r.failure()?.errorText ?? '', byServiceWorker: !!r.serviceWorker(),
  }));
  context.on('response', (r) => traffic.responses.push({
    url: r.url(), fromServiceWorker: r.fromServiceWorker(), byServiceWorker: !!r.request().serviceWorker(),
  }));
  return traffic;
}

/**
 * Waits until the page says whether it is kept for offline use; returns what it says and
 * whether a service worker controls it.
 * @param {import('playwright-core').Page} page
 */
async function offlineStatus(page) {
  await page.waitForFunction(() => window.sss.offline !== null, null, { timeout: 120_000 });
  return page.evaluate(() => ({
    offline: window.sss.offline,
    controlled: !!navigator.serviceWorker?.controller,
    badge: !(/** @type {HTMLElement} */ (document.getElementById('offline')).hidden),
  }));
}

/**
 * Segments the open demo scan (SSS, the whole volume) and checks it scores the demo's ground
 * truth as the native test of the default weights measured (tests/demo-dice.json, less its
 * margin); returns the Dice per class.
 * @param {import('playwright-core').Page} page
 */
async function segmentDemo(page) {
  const volume = await volumeAfter(page, () => page.evaluate(async () => window.sss.api.segment()));
  assert.deepEqual(volume.errors, [], 'the segmentation ran');
  assert.ok(volume.labels, 'a label map');
  const truth = readNiftiLabels(new URL('web/assets/demo/demo_gt.nii.gz', ROOT).pathname);
  /** Dice per class measured natively, and how far below it a class may fall. @type {{full: number[], margin: number}} */
  const expected = JSON.parse(readFileSync(new URL('tests/demo-dice.json', ROOT), 'utf8'));
  const dice = expected.full.map((_, i) => classDice(volume.labels ?? [], truth.labels, i + 1));
  dice.forEach((d, i) => assert.ok(d >= expected.full[i] - expected.margin,
    `class ${i + 1}: Dice ${d.toFixed(4)} vs native ${expected.full[i]}`));
  return dice;
}

/**
 * Checks a reload made with the network off: no request of the page or its model worker
 * failed, every response came from the service worker's cache, and what the service worker
 * itself asked of the network failed (the repository's build tries the network first; a
 * published build must not try at all).
 * @param {ReturnType<typeof recordTraffic>} traffic
 * @param {string} base every URL is under it
 * @param {boolean} networkFirst whether the service worker tries the network first ('dev')
 * @param {string[]} [alsoLoaded] files the page loaded besides those it always loads
 */
function checkServedOffline(traffic, base, networkFirst, alsoLoaded = []) {
  assert.deepEqual(traffic.failed.filter((f) => !f.byServiceWorker), [], 'no request of the page failed');
  const tried = traffic.failed.filter((f) => f.byServiceWorker);
  if (networkFirst) {
    assert.ok(tried.length > 0, 'the service worker tried the network first');
    assert.ok(tried.every((f) => /INTERNET_DISCONNECTED|CONNECTION_REFUSED/.test(f.error)),
      `and found none: ${tried.map((f) => f.error).join(', ')}`);
  } else {
    assert.deepEqual(tried, [], 'a published build answers from its cache without asking the network');
  }
  const urls = traffic.responses.map((r) => r.url);
  for (const needed of ['web/', 'web/js/main.js', 'web/js/worker.js', 'pkg/sss.js', 'pkg/sss_bg.wasm',
    'web/assets/weights/sss-cardiac.json', 'web/assets/weights/sss-cardiac.bpk',
    'web/assets/demo/demo.nii.gz', ...alsoLoaded]) {
    assert.ok(urls.some((u) => new URL(u).pathname === new URL(needed, base).pathname), `${needed} was loaded`);
  }
  const fromNetwork = traffic.responses.filter((r) => !r.fromServiceWorker || r.byServiceWorker);
  assert.deepEqual(fromNetwork, [], 'every response came from the service worker\'s cache');
  assert.ok(urls.every((u) => u.startsWith(base)), 'nothing outside the page\'s folder');
}

test('after a first visit the page reloads and segments with the server stopped and the network off', { timeout: 600_000 }, async () => {
  const server = await startServer();
  let serving = true;
  // The slices drawn with WGSL (its shader must be kept too), the model on the CPU (fast).
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const { context, page, errors, requests } = await openPage(browser, `${server.url}?model=cpu`);
    const first = await offlineStatus(page);
    assert.equal(first.offline, 'ready', 'the page is kept for offline use');
    assert.ok(first.controlled, 'the service worker controls the page');
    assert.ok(first.badge, 'the page says it works offline');
    const cached = await page.evaluate(async () => {
      const names = await caches.keys();
      const cache = await caches.open(names[0]);
      return { names, urls: (await cache.keys()).map((r) => new URL(r.url).pathname) };
    });
    assert.deepEqual(cached.names, ['sss-offline-dev'], 'the repository\'s build is "dev"');
    // Everything the first visit loaded (it ran before the service worker was there, so the
    // worker's list must name it all; the worker's own script the browser keeps), and the
    // catalog's other weights.
    const loaded = new Set(requests.filter((u) => u.startsWith('http')).map((u) => new URL(u).pathname));
    loaded.delete('/web/sw.js');
    for (const path of [...loaded, '/web/assets/weights/sss-brain-ct.bpk']) {
      assert.ok(cached.urls.includes(path), `${path} is kept (${cached.urls.join(' ')})`);
    }

    // No network: the server is gone and the browser is offline.
    await server.close();
    serving = false;
    await context.setOffline(true);
    const traffic = recordTraffic(context);
    // How full the progress bar is drawn while the page loads (the weights' download).
    await context.addInitScript(() => {
      const w = window;
      w.__bar = [];
      new MutationObserver((changes) => {
        for (const { target } of changes) {
          const bar = /** @type {HTMLElement} */ (target);
          if (bar.matches('#progress .bar.determinate')) w.__bar.push(bar.style.width);
        }
      }).observe(document, { subtree: true, attributes: true, attributeFilter: ['style', 'class'] });
    });
    const started = Date.now();
    await page.reload();
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 300_000 });
    const state = await page.evaluate(() => {
      const s = window.sss;
      return { dims: s.scan?.dims, manifest: !!s.manifest, backend: s.backend, renderer: s.renderer,
        online: navigator.onLine };
    });
    assert.equal(state.online, false, 'the browser is offline');
    assert.ok(state.dims, 'the demo scan opens offline');
    assert.ok(state.manifest, 'the weights load offline');
    const bar = await page.evaluate(() => window.__bar);
    assert.ok(bar.includes('100%') && bar.some((/** @type {string} */ w) => /^\d+%$/.test(w) && w !== '100%'),
      `the progress bar fills with the download (${bar.join(' ')})`);
    const dice = await segmentDemo(page);
    console.log(`offline reload on ${state.backend}: ready and segmented in ${((Date.now() - started) / 1000).toFixed(1)} s, ` +
      `Dice per class ${dice.map((d) => d.toFixed(4)).join(', ')}; ${traffic.responses.length} responses, all from the service worker`);
    assert.equal(state.renderer, 'WebGPU', 'the slices are drawn with WGSL');
    checkServedOffline(traffic, new URL(server.url).origin + '/', true, ['shaders/slice.wgsl']);
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
    if (serving) await server.close();
  }
});

test('where service workers are refused the page works online as before', { timeout: 300_000 }, async () => {
  const server = await startServer();
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    // Playwright's "block" answers register() without registering anything.
    const { page, errors } = await openPage(browser, server.url, { serviceWorkers: 'block' });
    const status = await offlineStatus(page);
    const offline = /** @type {string} */ (status.offline); // offlineStatus waited until it was known
    assert.match(offline, /^unavailable: /, offline);
    assert.ok(!status.controlled && !status.badge, 'no service worker, no badge');
    await segmentDemo(page);
    // A register() that throws (a browser that refuses), and no service workers at all.
    const refused = await page.evaluate(async () => {
      // The page's own module (web/js/offline.js), by its URL relative to the page.
      const { keepForOffline } = /** @type {typeof import('../../web/js/offline.js')} */ (
        await import(/** @type {string} */ ('./js/offline.js')));
      ServiceWorkerContainer.prototype.register = () => Promise.reject(new DOMException('refused here', 'SecurityError'));
      const rejected = await keepForOffline();
      Object.defineProperty(navigator, 'serviceWorker', { value: undefined });
      return { rejected, missing: await keepForOffline() };
    });
    assert.equal(refused.rejected, 'unavailable: refused here');
    assert.match(refused.missing, /^unavailable: this browser offers no service workers/);
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
    await server.close();
  }
});

test('scripts/publish.sh: a static folder served under a path prefix segments, works offline, and a new deploy replaces it', { timeout: 600_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'sss-publish-'));
  // --no-build: the package the suite built (a rebuild would rewrite pkg/ under other tests).
  execFileSync('bash', [new URL('scripts/publish.sh', ROOT).pathname, out, '--no-build'], { stdio: 'inherit' });
  const id = readFileSync(join(out, 'build-id.txt'), 'utf8').trim();
  assert.match(id, /^[0-9a-f]{16}$/, 'a build id');
  const sw = readFileSync(join(out, 'web/sw.js'), 'utf8');
  assert.ok(sw.includes(`const BUILD = '${id}';`), 'the service worker carries the build id');
  for (const file of ['index.html', 'web/index.html', 'web/js/main.js', 'pkg/sss.js', 'pkg/sss_bg.wasm',
    'shaders/slice.wgsl', 'web/assets/weights/catalog.json', 'web/assets/weights/sss-cardiac.bpk',
    'web/assets/demo/demo.nii.gz']) {
    assert.ok(statSync(join(out, file)).size > 0, `${file} is published`);
  }

  const prefix = '/some/prefix/';
  const server = await staticServer(out, prefix);
  let serving = true;
  const browser = await launch(NO_WEBGPU_FLAGS);
  try {
    // The folder's own address leads to the page.
    const { context, page, errors, requests } = await openPage(browser, server.url);
    assert.equal(page.url(), `${server.url}web/`, 'the folder\'s index.html leads to web/');
    const status = await offlineStatus(page);
    assert.equal(status.offline, 'ready', 'the published page is kept for offline use');
    const dice = await segmentDemo(page);
    console.log(`published under ${prefix}: segmented, Dice per class ${dice.map((d) => d.toFixed(4)).join(', ')}; ` +
      `${server.paths.length} requests to the host`);
    const outside = [...server.paths.filter((p) => !p.startsWith(prefix)),
      ...requests.filter((u) => !u.startsWith(server.url) && !u.startsWith('data:'))];
    assert.deepEqual(outside, [], 'no request outside the prefix');
    assert.deepEqual(await page.evaluate(() => caches.keys()), [`sss-offline-${id}`], 'the cache is named after the build');

    // A new deploy: another build id and a changed file. A reload (online) installs it, which
    // fills a new cache with the new files and deletes the old one.
    writeFileSync(join(out, 'web/sw.js'), sw.replace(`const BUILD = '${id}';`, "const BUILD = 'next-deploy';"));
    writeFileSync(join(out, 'web/style.css'), `${readFileSync(join(out, 'web/style.css'), 'utf8')}/* next deploy */\n`);
    await page.reload();
    await nextDeployActivated(page, 120_000);
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 300_000 });

    // Offline, from the new deploy's cache (cache first).
    await server.close();
    serving = false;
    await context.setOffline(true);
    const traffic = recordTraffic(context);
    await page.reload();
    await page.waitForFunction(() => window.sss?.ready, null, { timeout: 300_000 });
    const css = await page.evaluate(async () => (await (await fetch('style.css')).text()).includes('next deploy'));
    assert.ok(css, 'the new deploy\'s files are served');
    await segmentDemo(page);
    checkServedOffline(traffic, server.url, false);
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await browser.close();
    if (serving) await server.close();
    rmSync(out, { recursive: true, force: true });
  }
});
