// The page: opens a scan (the demo by default, or a file picked or dropped), shows axial
// slices with window/level, zoom and pan, and overlays the masks the model worker returns.
// Query parameters: ?webgpu=0 runs everything without WebGPU (CPU model, 2-D canvas);
// ?model=cpu runs the model on the CPU only; ?renderer=2d draws with the 2-D canvas only;
// ?scan=URL and ?weights=URL (a manifest) replace the defaults.

import { createRenderer } from './renderers.js';
import { WorkerClient } from './worker-client.js';

const params = new URLSearchParams(location.search);
const allowWebGpu = params.get('webgpu') !== '0';
/** `?renderer=2d` draws with the 2-D canvas even where WebGPU works. */
const drawWithWebGpu = allowWebGpu && params.get('renderer') !== '2d';
/** `?model=cpu` runs the model on the CPU even where WebGPU works. */
const modelOnWebGpu = allowWebGpu && params.get('model') !== 'cpu';
const scanUrl = params.get('scan') ?? new URL('../assets/demo/demo.nii.gz', import.meta.url).href;
const weightsUrl =
  params.get('weights') ?? new URL('../assets/weights/slice-net-cardiac.json', import.meta.url).href;
const shaderUrl = new URL('../../shaders/slice.wgsl', import.meta.url).href;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  backend: $('backend'), file: /** @type {HTMLInputElement} */ ($('file')),
  scanInfo: $('scan-info'), segment: /** @type {HTMLButtonElement} */ ($('segment')),
  auto: /** @type {HTMLInputElement} */ ($('auto')), timing: $('timing'),
  slice: /** @type {HTMLInputElement} */ ($('slice')), sliceOut: $('slice-out'),
  width: /** @type {HTMLInputElement} */ ($('width')), widthOut: $('width-out'),
  level: /** @type {HTMLInputElement} */ ($('level')), levelOut: $('level-out'),
  opacity: /** @type {HTMLInputElement} */ ($('opacity')), reset: $('reset'),
  legend: $('legend'), stage: $('stage'), progress: $('progress'), error: $('error'),
};

/** Everything the page knows; exposed as `window.sss` for tests and the curious. */
const state = {
  backend: /** @type {string|null} */ (null),
  fallbackReason: /** @type {string|null} */ (null),
  renderer: /** @type {string|null} */ (null),
  rendererReason: /** @type {string|null} */ (null),
  /** @type {{dims: number[], spacing: number[], voxels: Float32Array, name: string}|null} */
  scan: null,
  z: 0,
  window: { low: 0, high: 1 },
  dataRange: { min: 0, max: 1 },
  zoom: 1,
  pan: { x: 0, y: 0 },
  /** @type {Map<number, Uint8Array>} */ masks: new Map(),
  /** @type {any} */ manifest: null,
  /** @type {{z: number, width: number, height: number, ms: number, counts: number[]}|null} */
  lastMask: null,
  /** @type {string[]} */ errors: [],
  ready: false,
};
// @ts-ignore
window.sss = state;

/** @param {string} message */
function showError(message) {
  state.errors.push(message);
  ui.error.textContent = message;
  ui.error.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { ui.error.hidden = true; }, 8000);
}
/** @type {any} */ showError.timer = 0;

/** @param {string|null} message */
function showProgress(message) {
  ui.progress.hidden = !message;
  /** @type {HTMLElement} */ (ui.progress.querySelector('span')).textContent = message ?? '';
}

const workerUrl = new URL('./worker.js', import.meta.url);
let worker = new WorkerClient(workerUrl, showProgress);
/** The open scan's file bytes, kept so a restarted worker can open it again. */
let scanBytes = /** @type {ArrayBuffer|null} */ (null);
/**
 * The slice renderer (WGSL on WebGPU, else the 2-D canvas), created after the model's device.
 * @type {import('./renderers.js').WebGpuRenderer|import('./renderers.js').CanvasRenderer}
 */
let renderer;
/** @type {number[][]} overlay colours by label */
let classColors = [[0, 0, 0]];

async function startRenderer() {
  const created = await createRenderer(
    /** @type {HTMLCanvasElement} */ ($('view')), shaderUrl, drawWithWebGpu);
  renderer = created.renderer;
  renderer.colors = classColors;
  // @ts-ignore: for tests and the curious, like `window.sss`
  window.sssRenderer = renderer;
  state.renderer = renderer.kind;
  state.rendererReason = created.reason;
  if (created.reason && allowWebGpu) console.info(`drawing with a 2-D canvas: ${created.reason}`);
}

function currentSlice() {
  const s = /** @type {NonNullable<typeof state.scan>} */ (state.scan);
  const n = s.dims[0] * s.dims[1];
  return s.voxels.subarray(state.z * n, (state.z + 1) * n);
}

/** Fits the slice into the canvas, then applies the user's zoom and pan. */
function updateView() {
  if (!renderer) return;
  const canvas = renderer.canvas;
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(ui.stage.clientWidth * dpr));
  const h = Math.max(1, Math.round(ui.stage.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  if (!state.scan) return;
  const [nx, ny] = state.scan.dims;
  const scale = Math.min(w / nx, h / ny) * state.zoom;
  renderer.view = {
    scale,
    offsetX: (w - nx * scale) / 2 + state.pan.x * dpr,
    offsetY: (h - ny * scale) / 2 + state.pan.y * dpr,
  };
}

let frameRequested = false;
function draw() {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    if (!state.scan || !renderer) return;
    updateView();
    renderer.window = state.window;
    renderer.opacity = Number(ui.opacity.value) / 100;
    renderer.render();
  });
}

function showSlice() {
  if (!state.scan || !renderer) return;
  const [nx, ny] = state.scan.dims;
  renderer.setSlice(currentSlice(), nx, ny);
  renderer.setMask(state.masks.get(state.z) ?? null);
  ui.slice.value = String(state.z);
  ui.sliceOut.textContent = `${state.z + 1} / ${state.scan.dims[2]}`;
  draw();
  if (ui.auto.checked && !state.masks.has(state.z)) segment();
}

function syncWindowControls() {
  const { min, max } = state.dataRange;
  const span = max - min || 1;
  const width = state.window.high - state.window.low;
  const level = (state.window.high + state.window.low) / 2;
  ui.width.value = String(Math.round((1000 * width) / span));
  ui.level.value = String(Math.round((1000 * (level - min)) / span));
  ui.widthOut.textContent = width.toPrecision(4);
  ui.levelOut.textContent = level.toPrecision(4);
}

function windowFromControls() {
  const { min, max } = state.dataRange;
  const span = max - min || 1;
  const width = Math.max((Number(ui.width.value) / 1000) * span, span / 1000);
  const level = min + (Number(ui.level.value) / 1000) * span;
  state.window = { low: level - width / 2, high: level + width / 2 };
  syncWindowControls();
  draw();
}

/**
 * Opens scan bytes in the worker and shows the middle slice.
 * @param {ArrayBuffer} bytes
 * @param {string} name
 */
async function openScan(bytes, name) {
  const reply = await worker.request('openScan', { bytes: bytes.slice(0), name });
  scanBytes = bytes;
  let min = Infinity;
  let max = -Infinity;
  for (const v of reply.voxels) { if (v < min) min = v; if (v > max) max = v; }
  state.scan = { dims: reply.dims, spacing: reply.spacing, voxels: reply.voxels, name };
  state.dataRange = { min, max };
  state.window = { low: reply.window[0], high: reply.window[1] };
  state.masks.clear();
  state.lastMask = null;
  state.z = Math.floor(reply.dims[2] / 2);
  state.zoom = 1;
  state.pan = { x: 0, y: 0 };
  ui.slice.max = String(reply.dims[2] - 1);
  const [nx, ny, nz] = reply.dims;
  const sp = reply.spacing.map((/** @type {number} */ s) => s.toFixed(2)).join(' × ');
  ui.scanInfo.textContent = `${name}: ${nx} × ${ny} × ${nz} voxels, ${sp} mm`;
  syncWindowControls();
  ui.segment.disabled = !state.manifest;
  showSlice();
}

let segmenting = false;
async function segment() {
  if (!state.scan || !state.manifest || segmenting) return;
  segmenting = true;
  ui.segment.disabled = true;
  const z = state.z;
  try {
    const reply = await worker.request('segment', { z });
    const labels = /** @type {Uint8Array} */ (reply.labels);
    state.masks.set(z, labels);
    const counts = new Array(state.manifest.classes.length).fill(0);
    for (const l of labels) counts[l] = (counts[l] ?? 0) + 1;
    state.lastMask = { z, width: reply.width, height: reply.height, ms: reply.ms, counts };
    ui.timing.textContent = `slice ${z + 1}: ${reply.ms.toFixed(0)} ms on ${state.backend}`;
    if (z === state.z && renderer) { renderer.setMask(labels); draw(); }
  } catch (e) {
    const message = /** @type {Error} */ (e).message;
    if (worker.dead && state.backend === 'WebGPU') {
      showError(`WebGPU failed (${message}); the model continues on the CPU.`);
      segmenting = false;
      await startModel(false, `WebGPU failed: ${message}`);
      return segment();
    }
    showError(`Segmentation failed: ${message}`);
  } finally {
    segmenting = false;
    ui.segment.disabled = false;
    if (ui.auto.checked && !state.masks.has(state.z)) segment();
  }
}

/** @param {any} manifest */
function showLegend(manifest) {
  ui.legend.replaceChildren(...manifest.classes.filter((/** @type {any} */ c) => c.label > 0)
    .map((/** @type {any} */ c) => {
      const li = document.createElement('li');
      const swatch = document.createElement('span');
      swatch.style.background = `rgb(${c.color.join(',')})`;
      li.append(swatch, c.name);
      return li;
    }));
  const colors = [];
  for (const c of manifest.classes) colors[c.label] = c.color;
  classColors = colors;
  if (renderer) renderer.colors = colors;
}

/** @param {number} dz */
function step(dz) {
  if (!state.scan) return;
  const z = Math.min(Math.max(state.z + dz, 0), state.scan.dims[2] - 1);
  if (z !== state.z) { state.z = z; showSlice(); }
}

/** @param {number} factor */
function zoomBy(factor) {
  state.zoom = Math.min(Math.max(state.zoom * factor, 0.25), 32);
  draw();
}

// ---- interaction ----
ui.stage.addEventListener('wheel', (e) => {
  e.preventDefault();
  if (e.ctrlKey || e.metaKey) zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15);
  else step(e.deltaY > 0 ? 1 : -1);
}, { passive: false });
ui.stage.addEventListener('contextmenu', (e) => e.preventDefault());
ui.stage.addEventListener('pointerdown', (e) => {
  const adjustWindow = e.button === 2 || e.shiftKey;
  const start = { x: e.clientX, y: e.clientY, pan: { ...state.pan }, window: { ...state.window } };
  ui.stage.setPointerCapture(e.pointerId);
  ui.stage.focus();
  const move = (/** @type {PointerEvent} */ m) => {
    const dx = m.clientX - start.x;
    const dy = m.clientY - start.y;
    if (adjustWindow) {
      const span = state.dataRange.max - state.dataRange.min || 1;
      const width = Math.max(start.window.high - start.window.low + (dx * span) / 500, span / 1000);
      const level = (start.window.high + start.window.low) / 2 - (dy * span) / 500;
      state.window = { low: level - width / 2, high: level + width / 2 };
      syncWindowControls();
    } else {
      state.pan = { x: start.pan.x + dx, y: start.pan.y + dy };
    }
    draw();
  };
  const up = () => {
    ui.stage.removeEventListener('pointermove', move);
    ui.stage.removeEventListener('pointerup', up);
  };
  ui.stage.addEventListener('pointermove', move);
  ui.stage.addEventListener('pointerup', up);
});
window.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type !== 'range') return;
  const keys = /** @type {Record<string, () => void>} */ ({
    ArrowUp: () => step(-1), ArrowDown: () => step(1), PageUp: () => step(-5), PageDown: () => step(5),
    '+': () => zoomBy(1.25), '=': () => zoomBy(1.25), '-': () => zoomBy(0.8),
    s: () => segment(), r: () => ui.reset.click(),
  });
  const action = keys[e.key];
  if (action) { e.preventDefault(); action(); }
});
ui.slice.addEventListener('input', () => { state.z = Number(ui.slice.value); showSlice(); });
ui.width.addEventListener('input', windowFromControls);
ui.level.addEventListener('input', windowFromControls);
ui.opacity.addEventListener('input', draw);
ui.reset.addEventListener('click', () => { state.zoom = 1; state.pan = { x: 0, y: 0 }; draw(); });
ui.segment.addEventListener('click', segment);
ui.auto.addEventListener('change', () => { if (ui.auto.checked) segment(); });
new ResizeObserver(draw).observe(ui.stage);

/** @param {File} file */
async function openFile(file) {
  try {
    await openScan(await file.arrayBuffer(), file.name);
  } catch (e) {
    showError(`Cannot open ${file.name}: ${/** @type {Error} */ (e).message}`);
  }
}
ui.file.addEventListener('change', () => { if (ui.file.files?.[0]) openFile(ui.file.files[0]); });
ui.stage.addEventListener('dragover', (e) => { e.preventDefault(); ui.stage.classList.add('drop'); });
ui.stage.addEventListener('dragleave', () => ui.stage.classList.remove('drop'));
ui.stage.addEventListener('drop', (e) => {
  e.preventDefault();
  ui.stage.classList.remove('drop');
  const file = e.dataTransfer?.files?.[0];
  if (file) openFile(file);
});

// ---- start-up: runtime, weights and demo scan ----

/**
 * Starts (or restarts) the model worker and loads the weights; reopens the open scan in it.
 * @param {boolean} preferWebGpu
 * @param {string|null} [why] why WebGPU is not used, when restarting without it
 */
async function startModel(preferWebGpu, why = null) {
  if (worker.dead) worker = new WorkerClient(workerUrl, showProgress);
  const started = await worker.request('init', { preferWebGpu });
  state.backend = started.backend;
  state.fallbackReason = why ?? started.fallbackReason;
  ui.backend.textContent = state.fallbackReason
    ? `${started.backend} — ${state.fallbackReason}` : started.backend;
  ui.backend.classList.toggle('gpu', started.backend === 'WebGPU');
  ui.backend.classList.toggle('cpu', started.backend !== 'WebGPU');
  const weights = await worker.request('loadWeights', { manifestUrl: weightsUrl });
  state.manifest = weights.manifest;
  showLegend(state.manifest);
  if (scanBytes && state.scan) {
    await worker.request('openScan', { bytes: scanBytes.slice(0), name: state.scan.name });
  }
}

try {
  const demo = fetch(scanUrl).then((r) => {
    if (!r.ok) throw new Error(`${scanUrl} answered ${r.status}`);
    return r.arrayBuffer();
  });
  try {
    await startModel(modelOnWebGpu);
  } catch (e) {
    showError(`The model could not start: ${/** @type {Error} */ (e).message}`);
  }
  await startRenderer();
  try {
    await openScan(await demo, scanUrl.split('/').pop() ?? 'demo');
  } catch (e) {
    showError(`The demo scan could not be loaded (${/** @type {Error} */ (e).message}); open a file instead.`);
  }
} finally {
  showProgress(null);
  state.ready = true;
}
