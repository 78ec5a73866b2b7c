// The page's service worker (a classic script; js/offline.js registers it): keeps what the page
// loads (the page's own files, the wasm package, the shaders, the weights of the catalog and
// the demo scan) in Cache Storage, so that after a first visit the page reloads and segments
// with the network off.
//
// Versioning: BUILD is 'dev' in the repository; scripts/publish.sh replaces it with a hash of
// every published file. The cache is named after BUILD, so a deploy that changes any file
// changes this script, the browser installs it, it fills a new cache and deletes the old ones.
// - A published build (BUILD a hash): cache first; the network only for what the cache lacks
//   (kept too).
// - 'dev' (scripts/serve.sh): network first, the cache only when the network fails, so an edit
//   shows on the next reload and the page still opens offline.
// The weights keep their own check: the model worker compares their sha256 with the manifest's,
// wherever the bytes came from.

const BUILD = 'dev';
/** This script's global, typed (a classic script sees `self` as a plain worker's). */
const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const PREFIX = 'sss-offline-';
const CACHE = PREFIX + BUILD;
/** The published folder (this script lives in its web/): nothing outside it is touched. */
const ROOT = new URL('../', sw.location.href).href;
/** What every visit needs, relative to this script; installing fails without any of them. */
const CORE = [
  './', './style.css',
  './js/gpu-counters.js', './js/main.js', './js/offline.js', './js/orientation.js',
  './js/prompts.js', './js/renderers.js', './js/sss-panel.js', './js/worker-client.js',
  './js/emitter.js', './js/score-strip.js',
  './js/worker.js',
  '../pkg/sss.js', '../pkg/sss_bg.wasm', '../shaders/slice.wgsl',
  './assets/demo/demo.nii.gz', './assets/weights/catalog.json',
];
/** The default weights' manifest (js/main.js): it and its weights are part of the core. */
const DEFAULT_WEIGHTS = './assets/weights/sss-cardiac.json';
const CATALOG = './assets/weights/catalog.json';

/**
 * The cache key of a URL: without its query (the page's own parameters), `index.html` as its
 * folder.
 * @param {string} url
 */
function keyOf(url) {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  if (u.pathname.endsWith('/index.html')) u.pathname = u.pathname.slice(0, -'index.html'.length);
  return u.href;
}

/**
 * A response fit to keep: a whole, same-origin 200. One that came through a redirect is copied
 * (a navigation refuses a redirected response).
 * @param {Response} response
 * @returns {Response|null}
 */
function keepable(response) {
  if (!response.ok || response.status !== 200 || response.type !== 'basic') return null;
  if (!response.redirected) return response;
  return new Response(response.body, { status: 200, statusText: response.statusText, headers: response.headers });
}

/**
 * Fetches a URL past the HTTP cache (the versions must match this build) and keeps it.
 * @param {Cache} cache
 * @param {string} url absolute
 */
async function keep(cache, url) {
  const response = await fetch(new Request(url, { cache: 'reload' }));
  const kept = keepable(response);
  if (!kept) throw new Error(`${url} answered ${response.status}`);
  await cache.put(keyOf(url), kept);
}

/**
 * Keeps a weights manifest and the weights file it names.
 * @param {Cache} cache
 * @param {string} manifestUrl absolute
 */
async function keepWeights(cache, manifestUrl) {
  await keep(cache, manifestUrl);
  const manifest = await (/** @type {Response} */ (await cache.match(keyOf(manifestUrl)))).json();
  await keep(cache, new URL(manifest.weights_file, manifestUrl).href);
}

async function install() {
  const cache = await caches.open(CACHE);
  const at = (/** @type {string} */ path) => new URL(path, sw.location.href).href;
  await Promise.all(CORE.map((path) => keep(cache, at(path))));
  await keepWeights(cache, at(DEFAULT_WEIGHTS));
  // The catalog's other weights (the page switches to them by the scan's modality): kept when
  // they can be; one that fails does not stop the page from working offline with the others.
  const catalog = await (/** @type {Response} */ (await cache.match(keyOf(at(CATALOG))))).json();
  for (const entry of catalog) {
    const url = new URL(entry.manifest, at(CATALOG)).href;
    if (url === at(DEFAULT_WEIGHTS)) continue;
    await keepWeights(cache, url).catch((e) => console.warn(`not kept for offline use: ${url} (${e.message})`));
  }
}

sw.addEventListener('install', (event) => {
  event.waitUntil(install().then(() => sw.skipWaiting()));
});

sw.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX) && name !== CACHE) await caches.delete(name);
    }
    await sw.clients.claim();
  })());
});

/**
 * Keeps a response from the network for later (while the page already reads it); not when a
 * newer build has replaced this one's cache (a page still open from before the deploy).
 * @param {FetchEvent} event
 * @param {Response} response
 */
function keepLater(event, response) {
  const kept = keepable(response.clone());
  if (kept) {
    event.waitUntil(caches.has(CACHE).then(async (mine) => {
      if (mine) await (await caches.open(CACHE)).put(keyOf(event.request.url), kept);
    }));
  }
  return response;
}

/**
 * Answers from the network, keeping the answer; from the cache when the network fails.
 * @param {FetchEvent} event
 */
async function networkFirst(event) {
  try {
    return keepLater(event, await fetch(event.request));
  } catch (e) {
    const cached = await caches.match(keyOf(event.request.url), { cacheName: CACHE });
    if (cached) return cached;
    throw e;
  }
}

/**
 * Answers from the cache; from the network (keeping the answer) for what it lacks.
 * @param {FetchEvent} event
 */
async function cacheFirst(event) {
  const cached = await caches.match(keyOf(event.request.url), { cacheName: CACHE });
  return cached ?? keepLater(event, await fetch(event.request));
}

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET' || request.headers.has('range') || !request.url.startsWith(ROOT)) return;
  event.respondWith(BUILD === 'dev' ? networkFirst(event) : cacheFirst(event));
});
