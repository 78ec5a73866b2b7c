// The page's wiring: opens a scan (the demo by default, or a file picked or dropped), shows
// axial slices with window/level, zoom and pan, in the radiological convention with the patient
// directions on the view's edges (orientation.js; display only), overlays the masks the model
// worker returns, starts the model worker (restarting it on the CPU if WebGPU fails) and
// handles keys and the pointer. Slice-network weights segment the shown slice (here); SSS
// weights segment the whole volume from one prompt per class, which sss-panel.js runs, lists
// and lets the user correct.
// Query parameters: ?webgpu=0 runs everything without WebGPU (CPU model, 2-D canvas);
// ?model=cpu runs the model on the CPU only; ?renderer=2d draws with the 2-D canvas only;
// ?scan=URL and ?weights=URL (a manifest) replace the defaults; ?gpu-counters has the model
// worker count its WebGPU work (gpu-counters.js: dispatches, submits, pipelines, read-backs,
// live buffers per propagated slice, in `window.sss.gpuCounts`) for tests and benchmarks.
// Weights: the page offers those listed in assets/weights/catalog.json; when a scan opens
// whose intensities say another modality than the loaded weights' (CT in Hounsfield units vs
// MRI), it switches to catalog weights of that modality and says so, unless the user chose
// the weights (?weights=, or the Weights list), in which case it warns instead.

import { keepForOffline } from './offline.js';
import { AS_STORED, axisCodes, displayFor, placeSlice, toSlice } from './orientation.js';
import { createRenderer } from './renderers.js';
import { SssPanel, classCounts } from './sss-panel.js';
import { WorkerClient } from './worker-client.js';

/**
 * @import {ClassPrompt, FitReport, GpuSliceCounts, Manifest, ModalityGuess, ScanFile,
 *   VolumeUpdate, WeightsKind, WorkerStats} from './protocol.js'
 */

const params = new URLSearchParams(location.search);
const allowWebGpu = params.get('webgpu') !== '0';
/** `?renderer=2d` draws with the 2-D canvas even where WebGPU works. */
const drawWithWebGpu = allowWebGpu && params.get('renderer') !== '2d';
/** `?model=cpu` runs the model on the CPU even where WebGPU works. */
const modelOnWebGpu = allowWebGpu && params.get('model') !== 'cpu';
/** `?gpu-counters`: the model worker counts its WebGPU work (see the top). */
const countGpuWork = params.has('gpu-counters');
const scanUrl = params.get('scan') ?? new URL('../assets/demo/demo.nii.gz', import.meta.url).href;
/** Absolute, since the worker would resolve a relative URL against its own script. */
let weightsUrl = new URL(params.get('weights') ?? '../assets/weights/sss-cardiac.json',
  params.has('weights') ? location.href : import.meta.url).href;
/** The user chose the weights (?weights= or the list): never switch them on their own. */
let weightsChosen = params.has('weights');
const catalogUrl = new URL('../assets/weights/catalog.json', import.meta.url).href;
const shaderUrl = new URL('../../shaders/slice.wgsl', import.meta.url).href;

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const ui = {
  backend: $('backend'), file: /** @type {HTMLInputElement} */ ($('file')),
  folder: /** @type {HTMLInputElement} */ ($('folder')),
  scanInfo: $('scan-info'), segment: /** @type {HTMLButtonElement} */ ($('segment')),
  auto: /** @type {HTMLInputElement} */ ($('auto')), timing: $('timing'),
  slice: /** @type {HTMLInputElement} */ ($('slice')), sliceOut: $('slice-out'),
  width: /** @type {HTMLInputElement} */ ($('width')), widthOut: $('width-out'),
  level: /** @type {HTMLInputElement} */ ($('level')), levelOut: $('level-out'),
  opacity: /** @type {HTMLInputElement} */ ($('opacity')), reset: $('reset'),
  windowPreset: /** @type {HTMLSelectElement} */ ($('window-preset')),
  legend: $('legend'), stage: $('stage'), progress: $('progress'), error: $('error'),
  autoLabel: $('auto-label'),
  weightsChoice: /** @type {HTMLSelectElement} */ ($('weights-choice')), fitNote: $('fit-note'),
  orientation: $('orientation'),
};

/**
 * Everything the page knows; exposed as `window.sss` for tests and the curious. Its type is
 * `PageState` (below), which sss-panel.js shares.
 */
const state = {
  /** Labels whose overlay the user hid (Classes list); the masks themselves stay. */
  hiddenClasses: /** @type {Set<number>} */ (new Set()),
  /** The scan's own window (its 0.5–99.5 percentiles), the "auto" preset. */
  autoWindow: /** @type {{low: number, high: number}|null} */ (null),
  backend: /** @type {string|null} */ (null),
  fallbackReason: /** @type {string|null} */ (null),
  renderer: /** @type {string|null} */ (null),
  rendererReason: /** @type {string|null} */ (null),
  /** @type {{dims: number[], spacing: number[], voxels: Float32Array, name: string}|null} */
  scan: null,
  /**
   * How the open scan is shown (orientation.js): the patient direction each voxel axis points
   * toward (`codes`, from its affine; null for a PNG or JPEG image, shown as stored) and the
   * display's flips, transpose and edge letters.
   * @type {{codes: string[]|null, display: import('./orientation.js').Display}}
   */
  orientation: { codes: null, display: AS_STORED },
  z: 0,
  window: { low: 0, high: 1 },
  dataRange: { min: 0, max: 1 },
  zoom: 1,
  pan: { x: 0, y: 0 },
  /**
   * The masks shown, by slice: the slice network's, or for SSS the slices of the label map
   * `view` picks (SAM-2's `labels` or the coarse head's `coarse`).
   * @type {Map<number, Uint8Array>}
   */
  masks: new Map(),
  /** The loaded weights' manifest. @type {Manifest|null} */ manifest: null,
  /**
   * The weights the page offers (`catalog.json`): manifest URL (absolute), modality, label,
   * and what they were measured to do (`quality`, shown with them).
   * @type {{url: string, modality: string, label: string, quality?: string}[]}
   */
  catalog: [],
  /**
   * What the open scan's intensities say about its modality (worker's `Scan.modality`).
   * @type {ModalityGuess|null}
   */
  scanModality: null,
  /** What reading the open scan left out or assumed (a DICOM series' other files), in words. */
  scanNotes: /** @type {string[]} */ ([]),
  /** What the page says about the weights and the scan (switched, or does not fit). */
  fitNote: '',
  /** @type {{z: number, width: number, height: number, ms: number, counts: number[]}|null} */
  lastMask: null,
  /** @type {string[]} */ errors: [],
  ready: false,
  /**
   * Whether the page is kept for offline use (js/offline.js): null while unknown, 'ready', or
   * 'unavailable: <why>' (the page then works online only).
   */
  offline: /** @type {string|null} */ (null),
  /** The loaded weights: 'slice-net' (one slice at a time) or 'sss' (the volume from prompts). */
  kind: /** @type {WeightsKind|null} */ (null),
  /** SSS: the prompts in use, one per class at most (PCSW's, or as the user edited them). */
  prompts: /** @type {ClassPrompt[]|null} */ (null),
  /** SSS: PCSW's prompts for the open scan, for "Reset prompts". */
  autoPrompts: /** @type {ClassPrompt[]|null} */ (null),
  /** SSS: the coarse head's label map of the open scan (x fastest). */
  coarse: /** @type {Uint8Array|null} */ (null),
  /**
   * SSS: SAM-2's label map of the whole volume (x fastest), filled in slice by slice while it
   * propagates; `masks` holds its slices that are in `propagated`.
   */
  labels: /** @type {Uint8Array|null} */ (null),
  /**
   * SSS: the slices of `labels` SAM-2 has propagated: every slice after a complete run, those
   * done so far while it runs, those done before Stop after a stopped one.
   * @type {Set<number>}
   */
  propagated: new Set(),
  /**
   * SSS: the running (or last) propagation: slices done and in all, slice updates received
   * from the worker, whether it still runs and whether Stop was asked.
   * @type {{done: number, total: number, updates: number, running: boolean, stopping: boolean}|null}
   */
  propagation: null,
  /**
   * SSS: the last volume segmentation: milliseconds (prompts, propagation, both), slices in
   * all and propagated (fewer when stopped), voxels per class, and the prompts it used.
   * @type {{ms: number, promptsMs: number, propagateMs: number, slices: number,
   *   propagated: number, stopped: boolean, counts: number[], prompts: ClassPrompt[],
   *   backend: string|null, fit: FitReport|null}|null}
   */
  lastVolume: null,
  /**
   * SSS: the last correction previewed on one slice (`previewSlice`): its slice, whether the
   * image encoder ran, the time taken and the classes prompted there.
   * @type {{z: number, encoded: boolean, ms: number, classes: number[]}|null}
   */
  lastPreview: null,
  /**
   * SSS: the last brush or eraser stroke: its slice, class, whether it erased, the radius.
   * @type {{z: number, label: number, erase: boolean, radius: number}|null}
   */
  lastPaint: null,
  /**
   * SSS: SAM-2's object score logit and the mask decoder's predicted IoU of the mask chosen,
   * per tracked class and slice, from the last propagation (`scores[z * classes.length + i]`,
   * `ious` likewise; NaN where none came), drawn as the strip under the slice slider.
   * @type {{classes: number[], scores: Float32Array, ious: Float32Array}|null}
   */
  objectScores: null,
  /** SSS: the class whose box a drag on the image draws (null: a drag pans). */
  selectedClass: /** @type {number|null} */ (null),
  /**
   * SSS: the label map `masks` shows: 'sam2' (`labels`, SAM-2's masks from the prompts) or
   * 'coarse' (`coarse`, the coarse head's); set with the "Masks" control, key C or `api.setView`.
   */
  view: /** @type {import('./sss-panel.js').MaskView} */ ('sam2'),
  /** True while the model works on a request of the page. */
  busy: false,
  /**
   * With `?gpu-counters`: the model's WebGPU work per slice of the running (or last)
   * propagation, in the order the slices came (gpu-counters.js; empty without WebGPU).
   * @type {{enabled: boolean, slices: GpuSliceCounts[]}}
   */
  gpuCounts: { enabled: countGpuWork, slices: [] },
  /** A small API for tests and the console (set below). */
  api: /** @type {PageApi|null} */ (null),
};
/** @typedef {typeof state} PageState */
Object.assign(window, { sss: state });

/** @param {string} message */
function showError(message) {
  state.errors.push(message);
  ui.error.textContent = message;
  ui.error.hidden = false;
  clearTimeout(showError.timer);
  showError.timer = setTimeout(() => { ui.error.hidden = true; }, 8000);
}
/** The pending hiding of the error. @type {ReturnType<typeof setTimeout>|undefined} */
showError.timer = undefined;

/** @param {string|null} message */
function showProgress(message) {
  ui.progress.hidden = !message;
  /** @type {HTMLElement} */ (ui.progress.querySelector('span')).textContent = message ?? '';
  // A download ("weights: 42 %") fills the bar as it goes; anything else slides (busy).
  const percent = /(\d+) %$/.exec(message ?? '');
  const bar = /** @type {HTMLElement} */ (ui.progress.querySelector('.bar'));
  bar.classList.toggle('determinate', !!percent);
  bar.style.width = percent ? `${percent[1]}%` : '';
}

const workerUrl = new URL('./worker.js', import.meta.url);
let worker = new WorkerClient(workerUrl, showProgress);
/** The open scan's files, kept so a restarted worker can open it again. */
let scanFiles = /** @type {KeptFile[]|null} */ (null);
/**
 * The slice renderer (WGSL on WebGPU, else the 2-D canvas), created after the model's device.
 * @type {import('./renderers.js').WebGpuRenderer|import('./renderers.js').CanvasRenderer}
 */
let renderer;
/** @type {number[][]} overlay colours by label */
let classColors = [[0, 0, 0]];
/** Counts opened scans, so a result for a scan that was replaced meanwhile is dropped. */
let scanGeneration = 0;
/** SSS: whether "segment when a scan opens" already ran (or failed) for the open scan. */
let autoRan = false;
/** SSS: volume segmentation, the prompts panel and editing, the mask view. */
const panel = new SssPanel({
  state, stage: ui.stage, timing: ui.timing,
  worker: () => worker,
  generation: () => scanGeneration,
  slicePixel, recoverOnCpu,
});
panel.on('draw', draw);
panel.on('showMask', () => {
  renderer?.setMask(state.masks.get(state.z) ?? null);
  draw();
});
panel.on('goToSlice', goToSlice);
panel.on('syncButtons', syncButtons);
panel.on('error', showError);
panel.on('progress', showProgress);
panel.on('autoSegment', autoSegment);

async function startRenderer() {
  const created = await createRenderer(
    /** @type {HTMLCanvasElement} */ ($('view')), shaderUrl, drawWithWebGpu);
  renderer = created.renderer;
  renderer.colors = classColors;
  renderer.hidden = state.hiddenClasses;
  // For tests and the curious, like `window.sss`.
  Object.assign(window, { sssRenderer: renderer });
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
  renderer.view = placeSlice(nx, ny, state.orientation.display, w, h, state.zoom,
    state.pan.x * dpr, state.pan.y * dpr);
}

/** The patient directions on the view's four edges (hidden for a scan without orientation). */
function showOrientation() {
  const { labels } = state.orientation.display;
  ui.orientation.hidden = !labels;
  for (const edge of /** @type {const} */ (['left', 'right', 'top', 'bottom'])) {
    /** @type {HTMLElement} */ (ui.orientation.querySelector(`.${edge}`)).textContent = labels?.[edge] ?? '';
  }
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
    panel.drawPrompts({
      width: renderer.canvas.width, height: renderer.canvas.height, view: renderer.view,
      colors: classColors,
    });
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
  autoSegment();
}

/** Segments on its own where the "auto" box is ticked and nothing is segmented yet. */
function autoSegment() {
  if (!ui.auto.checked || !state.scan || !state.manifest) return;
  if (state.kind === 'sss') {
    if (!autoRan && !state.busy) { autoRan = true; panel.segment(true); }
  } else if (!state.masks.has(state.z)) {
    segment();
  }
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
  ui.windowPreset.value = 'custom';
  syncWindowControls();
  draw();
}

/**
 * Applies a window/level preset: "auto" (the scan's percentiles) or "level/width" in the
 * scan's units (Hounsfield units for the CT presets).
 * @param {string} preset
 */
function applyWindowPreset(preset) {
  if (!state.scan) return;
  if (preset === 'auto') {
    if (state.autoWindow) state.window = { ...state.autoWindow };
  } else {
    const [level, width] = preset.split('/').map(Number);
    if (!Number.isFinite(level) || !(width > 0)) return;
    state.window = { low: level - width / 2, high: level + width / 2 };
  }
  ui.windowPreset.value = preset;
  syncWindowControls();
  draw();
}

/**
 * A file of the open scan as the page keeps it, to reopen the scan after a worker restart: a
 * `Blob` (a picked or dropped `File` stays on disk), not its bytes, so that the page holds no
 * copy of the scan's file in memory.
 * @typedef {{name: string, blob: Blob}} KeptFile
 */

/**
 * Opens `files` in the worker, their bytes read afresh and transferred (not copied).
 * @param {KeptFile[]} files
 */
async function openInWorker(files) {
  /** @type {ScanFile[]} */
  const read = await Promise.all(files.map(async (f) => ({ name: f.name, bytes: await f.blob.arrayBuffer() })));
  return worker.request('openScan', { files: read }, read.map((f) => f.bytes));
}

/**
 * Opens a scan in the worker (a NIfTI file, a PNG or JPEG image, or a DICOM series' files),
 * oriented by its affine, and shows the middle slice.
 * @param {KeptFile[]} files
 * @param {string} name what to call the scan
 */
async function openScan(files, name) {
  const reply = await openInWorker(files);
  scanFiles = files;
  let min = Infinity;
  let max = -Infinity;
  for (const v of reply.voxels) { if (v < min) min = v; if (v > max) max = v; }
  state.scan = { dims: reply.dims, spacing: reply.spacing, voxels: reply.voxels, name };
  const codes = reply.affine ? axisCodes(reply.affine) : null;
  state.orientation = { codes, display: displayFor(codes) };
  showOrientation();
  state.scanModality = reply.modality;
  state.dataRange = { min, max };
  state.window = { low: reply.window[0], high: reply.window[1] };
  state.autoWindow = { ...state.window };
  ui.windowPreset.value = 'auto';
  state.masks.clear();
  state.lastMask = null;
  scanGeneration++;
  autoRan = false;
  panel.reset();
  state.z = Math.floor(reply.dims[2] / 2);
  state.zoom = 1;
  state.pan = { x: 0, y: 0 };
  ui.slice.max = String(reply.dims[2] - 1);
  const [nx, ny, nz] = reply.dims;
  const sp = reply.spacing.map((/** @type {number} */ s) => s.toFixed(2)).join(' × ');
  const notes = /** @type {string[]} */ (reply.notes ?? []);
  state.scanNotes = notes;
  ui.scanInfo.textContent = `${name}: ${nx} × ${ny} × ${nz} voxels, ${sp} mm` +
    (codes ? `, voxel axes toward ${codes.join('')}` : ', no patient orientation (shown as stored)') +
    (notes.length ? ` (${notes.join('; ')})` : '');
  syncWindowControls();
  syncButtons();
  panel.show();
  await matchWeightsToScan();
  showSlice();
}

// ---- weights: the catalog, the list, the scan's modality ----

/** @param {string} text */
function setFitNote(text) {
  state.fitNote = text;
  ui.fitNote.textContent = text;
}

/** Reads the catalog of weights and fills the Weights list (the loaded weights always in it). */
async function loadCatalog() {
  try {
    const response = await fetch(catalogUrl);
    if (!response.ok) throw new Error(`${catalogUrl} answered ${response.status}`);
    const entries = /** @type {{manifest: string, modality: string, label: string, quality?: string}[]} */ (await response.json());
    state.catalog = entries.map((e) => ({ ...e, url: new URL(e.manifest, catalogUrl).href }));
  } catch (e) {
    console.warn(`no catalog of weights (${/** @type {Error} */ (e).message}); only ${weightsUrl}`);
  }
  fillWeightsList();
}

function fillWeightsList() {
  const options = state.catalog.map((e) => {
    const option = new Option(e.label, e.url);
    if (e.quality) option.title = e.quality;
    return option;
  });
  if (!state.catalog.some((e) => e.url === weightsUrl)) {
    options.push(new Option(state.manifest?.name ?? weightsUrl.split('/').pop() ?? weightsUrl, weightsUrl));
  }
  ui.weightsChoice.replaceChildren(...options);
  ui.weightsChoice.value = weightsUrl;
}

/**
 * Loads other weights into the worker; the open scan stays, its masks and prompts go.
 * @param {string} url a manifest
 */
async function switchWeights(url) {
  state.busy = true;
  syncButtons();
  try {
    const weights = await worker.request('loadWeights', { manifestUrl: url });
    weightsUrl = url;
    state.manifest = weights.manifest;
    state.kind = weights.kind;
    state.masks.clear();
    state.lastMask = null;
    autoRan = false;
    panel.reset();
    showLegend(state.manifest);
  } finally {
    state.busy = false;
    fillWeightsList();
    syncButtons();
  }
}

/**
 * Compares the open scan's modality with the loaded weights': switches to catalog weights of
 * the scan's modality when the user has not chosen the weights, else says they do not fit.
 */
async function matchWeightsToScan() {
  const guess = state.scanModality;
  const have = state.manifest?.modality;
  if (!guess || !have || guess.modality === have) {
    setFitNote('');
    return;
  }
  const other = state.catalog.find((e) => e.modality === guess.modality);
  if (other && !weightsChosen) {
    try {
      await switchWeights(other.url);
      setFitNote(`This scan looks like ${guess.reason}: switched to the ${other.label} weights.` +
        (other.quality ? ` ${other.quality}` : ''));
      return;
    } catch (e) {
      showError(`Could not switch to the ${other.label} weights: ${/** @type {Error} */ (e).message}`);
    }
  }
  setFitNote(`This scan looks like ${guess.reason}, but these weights were made for ` +
    `${have.toUpperCase()}: their masks would be meaningless here.` +
    (other ? ` Choose the ${other.label} weights above.` : ''));
}

ui.weightsChoice.addEventListener('change', async () => {
  weightsChosen = true;
  try {
    await switchWeights(ui.weightsChoice.value);
  } catch (e) {
    showError(`Could not load those weights: ${/** @type {Error} */ (e).message}`);
    return;
  }
  await matchWeightsToScan();
  if (state.scan) showSlice();
});

/** Enables the buttons that can act now. */
function syncButtons() {
  const ready = !!state.scan && !!state.manifest && !state.busy;
  ui.segment.disabled = !ready;
  ui.weightsChoice.disabled = state.busy;
  panel.syncButtons(ready);
}

/** "Segment" (button, key S, auto): the shown slice with a slice network, else the volume. */
function segment() {
  if (state.kind === 'sss') return panel.segment(true);
  return segmentSlice();
}

let segmenting = false;
/** Slice network: segments the shown slice. */
async function segmentSlice() {
  if (!state.scan || !state.manifest || segmenting) return;
  segmenting = true;
  state.busy = true;
  ui.segment.disabled = true;
  const z = state.z;
  const generation = scanGeneration;
  try {
    const reply = await worker.request('segment', { z });
    if (generation !== scanGeneration) return;
    const { labels } = reply;
    state.masks.set(z, labels);
    const counts = classCounts(labels, state.manifest.classes.length);
    state.lastMask = { z, width: reply.width, height: reply.height, ms: reply.ms, counts };
    ui.timing.textContent = `slice ${z + 1}: ${reply.ms.toFixed(0)} ms on ${state.backend}`;
    if (z === state.z && renderer) { renderer.setMask(labels); draw(); }
  } catch (e) {
    const message = /** @type {Error} */ (e).message;
    segmenting = false;
    const recovery = await recoverOnCpu(message);
    if (recovery === 'restarted') return await segmentSlice();
    if (recovery === null) showError(`Segmentation failed: ${message}`);
  } finally {
    segmenting = false;
    state.busy = false;
    ui.segment.disabled = false;
    // The user went on to another slice meanwhile: segment that one. (Not this slice again
    // after a failure: that would ask the worker again and again while "auto" is ticked.)
    if (ui.auto.checked && state.z !== z && !state.masks.has(state.z)) segment();
  }
}

/** @param {number} z */
function goToSlice(z) {
  if (!state.scan) return;
  state.z = Math.min(Math.max(Math.round(z), 0), state.scan.dims[2] - 1);
  showSlice();
}

/**
 * The slice pixel under a pointer event (may lie outside the slice).
 * @param {MouseEvent} e
 */
function slicePixel(e) {
  const rect = ui.stage.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  return toSlice(renderer.view, (e.clientX - rect.left) * dpr, (e.clientY - rect.top) * dpr);
}

/** @param {Manifest} manifest */
function showLegend(manifest) {
  state.hiddenClasses.clear();
  if (renderer) renderer.hidden = state.hiddenClasses;
  ui.legend.replaceChildren(...manifest.classes.filter((c) => c.label > 0)
    .map((c) => {
      const li = document.createElement('li');
      const label = document.createElement('label');
      const shown = document.createElement('input');
      shown.type = 'checkbox';
      shown.checked = true;
      shown.dataset.label = String(c.label);
      shown.title = `show or hide the ${c.name} overlay`;
      shown.addEventListener('change', () => setClassShown(c.label, shown.checked));
      const swatch = document.createElement('span');
      swatch.style.background = `rgb(${c.color.join(',')})`;
      label.append(shown, swatch, c.name);
      li.append(label);
      return li;
    }));
  /** @type {number[][]} */
  const colors = [];
  for (const c of manifest.classes) colors[c.label] = c.color;
  classColors = colors;
  if (renderer) renderer.colors = colors;
  ui.segment.textContent = state.kind === 'sss' ? 'Segment the volume' : 'Segment this slice';
  /** @type {ChildNode} its text, after the box */ (ui.autoLabel.lastChild).textContent = state.kind === 'sss' ? ' segment when a scan opens' : ' segment as I scroll';
  panel.show();
}

/**
 * Shows or hides one class's overlay (the label map is unchanged; saving keeps every class).
 * @param {number} label
 * @param {boolean} shown
 */
function setClassShown(label, shown) {
  if (shown) state.hiddenClasses.delete(label);
  else state.hiddenClasses.add(label);
  const box = /** @type {HTMLInputElement|null} */ (ui.legend.querySelector(`input[data-label="${label}"]`));
  if (box) box.checked = shown;
  if (renderer) renderer.hidden = state.hiddenClasses;
  draw();
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
  // With a class picked, the left button edits its prompt (Shift+click: a point to leave out).
  if (state.selectedClass !== null && state.scan && renderer && e.button === 0) {
    panel.startDrawing(e, state.selectedClass);
    return;
  }
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
      ui.windowPreset.value = 'custom';
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
/** Input types that take no typed text: with one of them focused, the page's keys still work. */
const KEYLESS_INPUTS = new Set(['checkbox', 'radio', 'range', 'button', 'submit', 'reset', 'file',
  'color', 'image', 'hidden']);

/**
 * Whether keys pressed on `target` belong to it (typing into a field) rather than to the viewer.
 * @param {EventTarget|null} target
 */
function takesTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && !KEYLESS_INPUTS.has(target.type);
}

window.addEventListener('keydown', (e) => {
  if (takesTyping(e.target)) return;
  // Undo and redo of prompt and mask edits: Ctrl+Z, Ctrl+Shift+Z or Ctrl+Y (⌘ on a Mac).
  const key = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && !e.altKey && state.kind === 'sss' && (key === 'z' || key === 'y')) {
    e.preventDefault();
    if (key === 'y' || e.shiftKey) panel.redo(); else panel.undo();
    return;
  }
  // Other browser shortcuts (Ctrl+C, Ctrl+R, …) are not the viewer's.
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const keys = /** @type {Record<string, () => void>} */ ({
    ArrowUp: () => step(-1), ArrowDown: () => step(1), PageUp: () => step(-5), PageDown: () => step(5),
    '+': () => zoomBy(1.25), '=': () => zoomBy(1.25), '-': () => zoomBy(0.8),
    s: () => segment(), r: () => ui.reset.click(), c: () => panel.toggleView(),
    p: () => panel.setTool('prompt'), b: () => panel.setTool('brush'), e: () => panel.setTool('eraser'),
    // Esc stops drawing a prompt; with none being drawn, it stops a running segmentation.
    Escape: () => { if (state.selectedClass !== null) panel.selectClass(null); else panel.stop(); },
  });
  const action = keys[e.key.length === 1 ? e.key.toLowerCase() : e.key];
  if (action) { e.preventDefault(); action(); }
});
ui.slice.addEventListener('input', () => { state.z = Number(ui.slice.value); showSlice(); });
ui.width.addEventListener('input', windowFromControls);
ui.level.addEventListener('input', windowFromControls);
ui.opacity.addEventListener('input', draw);
ui.windowPreset.addEventListener('change', () => applyWindowPreset(ui.windowPreset.value));
ui.reset.addEventListener('click', () => { state.zoom = 1; state.pan = { x: 0, y: 0 }; draw(); });
ui.segment.addEventListener('click', () => segment());
ui.auto.addEventListener('change', () => {
  if (!ui.auto.checked) return;
  if (state.kind === 'sss') autoRan = false;
  autoSegment();
});

/** The page's API for tests and the console (`window.sss.api`). */
const api = {
  /** @param {ClassPrompt[]} prompts */
  setPrompts: (prompts) => panel.setPrompts(prompts),
  /** Propagates the prompts in use (no new PCSW prompts). */
  rerun: () => panel.segment(false),
  /**
   * SSS: a correction click on class `label`'s prompt (on the shown slice, which must be the
   * prompt's), as a click on the image does; resolves once the slice's new masks are shown.
   * @param {number} label
   * @param {number} x slice pixel
   * @param {number} y
   * @param {boolean} positive
   */
  click: (label, x, y, positive) => panel.addClick(label, { x, y }, positive),
  /**
   * SSS: what a drag does with a class picked: 'prompt', 'brush' or 'eraser' (keys P, B, E).
   * @param {import('./sss-panel.js').Tool} tool
   */
  setTool: (tool) => panel.setTool(tool),
  /**
   * SSS: "Propagate each edit" on or off (the checkbox): whether each prompt edit, undo and redo
   * propagates the prompts at once.
   * @param {boolean} on
   */
  setAutoPropagate: (on) => panel.setAutoPropagate(on),
  /** SSS: resolves once the propagations that edits started have ended. */
  settled: () => panel.settled(),
  /** Undoes the last edit, of a prompt or a brush stroke (false: nothing to undo). */
  undo: () => panel.undo(),
  /** Redoes the last edit undone (false: nothing to redo). */
  redo: () => panel.redo(),
  /** SSS: stops the running segmentation after the slice SAM-2 is on (false: none runs). */
  stop: () => panel.stop(),
  /** PCSW's prompts, then propagation (slice networks: the shown slice). */
  segment: () => (state.kind === 'sss' ? panel.segment(true) : segmentSlice()),
  /** @param {number|null} label */
  selectClass: (label) => panel.selectClass(label),
  /**
   * Shows or hides a class's overlay (as its box in the Classes list).
   * @param {number} label
   * @param {boolean} shown
   */
  setClassShown,
  /**
   * A window/level preset: "auto" or "level/width" (as the Preset list).
   * @param {string} preset
   */
  setWindowPreset: applyWindowPreset,
  goToSlice,
  /**
   * SSS: which label map the overlay shows, 'sam2' or 'coarse' (throws on anything else).
   * @param {import('./sss-panel.js').MaskView} view
   */
  setView: (view) => panel.setView(view),
  /**
   * The model worker's wasm memory in bytes and, with `?gpu-counters`, its WebGPU totals and
   * live buffers (the soak test's readings).
   * @returns {Promise<WorkerStats>}
   */
  workerStats: async () => {
    const { wasmMemoryBytes, gpu } = await worker.request('stats');
    return { wasmMemoryBytes, gpu };
  },
  /**
   * SSS: SAM-2's stages (image encoder, prompt encoder + mask decoder, one propagation step)
   * timed in the model worker on its backend, first run and median (scripts/bench-page.sh).
   * @param {number} iters timed runs per stage
   * @param {number} warmup untimed runs after the first
   * @returns {Promise<import('./protocol.js').StageTimings>}
   */
  benchStages: async (iters, warmup) => {
    const { id: _id, ok: _ok, ...timings } = await worker.request('benchStages', { iters, warmup });
    return timings;
  },
  /**
   * Test hook (the recovery test): the model worker dies as a crash in wasm would, with an
   * uncaught error; resolves once the page has seen it die.
   */
  crashWorkerForTest: async () => {
    await worker.request('crashForTest');
    while (!worker.dead) await new Promise((r) => setTimeout(r, 10));
  },
};
/** @typedef {typeof api} PageApi */
state.api = api;
// Each propagated slice's WebGPU counts (`?gpu-counters`), a run's list begun at its first slice.
addEventListener('sss-slice', (e) => {
  const { gpu, done } = /** @type {CustomEvent<VolumeUpdate>} */ (e).detail;
  if (!gpu) return;
  if (done === 1) state.gpuCounts.slices = [];
  state.gpuCounts.slices.push(gpu);
});
new ResizeObserver(draw).observe(ui.stage);

/**
 * Opens files picked or dropped: one NIfTI file, one PNG or JPEG image, or the files of a
 * DICOM series (several files or a folder; sorted by position in the worker, not by name). The
 * previous scan stays open when they cannot be read.
 * @param {File[]} files
 */
async function openFiles(files) {
  if (!files.length) return;
  const folder = files[0].webkitRelativePath?.split('/')[0];
  const name = files.length === 1 ? files[0].name : `${folder || 'DICOM series'} (${files.length} files)`;
  try {
    showProgress(`reading ${name}`);
    const kept = files.map((f) => ({ name: f.webkitRelativePath || f.name, blob: f }));
    await openScan(kept, files.length === 1 ? name : folder || 'dicom-series');
  } catch (e) {
    showError(`Cannot open ${name}: ${/** @type {Error} */ (e).message}`);
  } finally {
    showProgress(null);
  }
}

/**
 * The files of a drop, folders read through (a dropped DICOM folder).
 * @param {DataTransfer} data
 * @returns {Promise<File[]>}
 */
async function droppedFiles(data) {
  const entries = Array.from(data.items ?? []).map((i) => i.webkitGetAsEntry?.()).filter((e) => !!e);
  if (!entries.some((e) => e?.isDirectory)) return Array.from(data.files ?? []);
  /** @type {File[]} */ const files = [];
  /** @param {FileSystemEntry} entry */
  const walk = async (entry) => {
    if (entry.isFile) {
      const file = /** @type {FileSystemFileEntry} */ (entry);
      files.push(await new Promise((resolve, reject) => file.file(resolve, reject)));
    } else if (entry.isDirectory) {
      const reader = /** @type {FileSystemDirectoryEntry} */ (entry).createReader();
      for (;;) {
        /** @type {FileSystemEntry[]} */
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const child of batch) await walk(child);
      }
    }
  };
  for (const entry of entries) await walk(entry);
  return files;
}

/**
 * Opens what a picker was given, then empties the picker: a browser fires no `change` when the
 * same file or folder is picked again, so without this a scan could not be re-opened after
 * another one (the page soak found it: its fourth cycle re-opens the first cycle's file).
 * @param {HTMLInputElement} input
 */
function openPicked(input) {
  const files = Array.from(input.files ?? []);
  input.value = '';
  openFiles(files);
}
ui.file.addEventListener('change', () => openPicked(ui.file));
ui.folder.addEventListener('change', () => openPicked(ui.folder));
ui.stage.addEventListener('dragover', (e) => { e.preventDefault(); ui.stage.classList.add('drop'); });
ui.stage.addEventListener('dragleave', () => ui.stage.classList.remove('drop'));
ui.stage.addEventListener('drop', async (e) => {
  e.preventDefault();
  ui.stage.classList.remove('drop');
  if (e.dataTransfer) openFiles(await droppedFiles(e.dataTransfer));
});

// ---- start-up: runtime, weights and demo scan ----

/**
 * Starts (or restarts) the model worker and loads the weights; reopens the open scan in it.
 * @param {boolean} preferWebGpu
 * @param {string|null} [why] why WebGPU is not used, when restarting without it
 */
async function startModel(preferWebGpu, why = null) {
  if (worker.dead) worker = new WorkerClient(workerUrl, showProgress);
  const started = await worker.request('init', { preferWebGpu, gpuCounters: countGpuWork });
  state.backend = started.backend;
  state.fallbackReason = why ?? started.fallbackReason;
  ui.backend.textContent = state.fallbackReason
    ? `${started.backend} — ${state.fallbackReason}` : started.backend;
  ui.backend.classList.toggle('gpu', started.backend === 'WebGPU');
  ui.backend.classList.toggle('cpu', started.backend !== 'WebGPU');
  const weights = await worker.request('loadWeights', { manifestUrl: weightsUrl });
  state.manifest = weights.manifest;
  state.kind = weights.kind;
  showLegend(state.manifest);
  fillWeightsList();
  if (scanFiles && state.scan) {
    await openInWorker(scanFiles);
  }
}

/**
 * The worker died on WebGPU: says so and restarts the model on the CPU (rejects if it cannot).
 * @param {string} message what failed
 */
async function restartOnCpu(message) {
  showError(`WebGPU failed (${message}); the model continues on the CPU.`);
  await startModel(false, `WebGPU failed: ${message}`);
}

/**
 * After a request failed with `message` (the slice network's here, SSS ones in the panel):
 * where the worker died on WebGPU, restarts the model on the CPU, saying so, and says so too
 * when that fails. The caller asks again after 'restarted' and reports the failure after null.
 * @param {string} message
 * @returns {Promise<import('./sss-panel.js').Recovery>}
 */
async function recoverOnCpu(message) {
  if (!worker.dead || state.backend !== 'WebGPU') return null;
  state.busy = false;
  try {
    await restartOnCpu(message);
    return 'restarted';
  } catch (e) {
    showError(`The model could not restart: ${/** @type {Error} */ (e).message}`);
    return 'failed';
  }
}

try {
  const demo = fetch(scanUrl).then((r) => {
    if (!r.ok) throw new Error(`${scanUrl} answered ${r.status}`);
    return r.blob();
  });
  await loadCatalog();
  try {
    await startModel(modelOnWebGpu);
  } catch (e) {
    showError(`The model could not start: ${/** @type {Error} */ (e).message}`);
  }
  await startRenderer();
  try {
    const demoName = scanUrl.split('/').pop() ?? 'demo';
    await openScan([{ name: demoName, blob: await demo }], demoName);
  } catch (e) {
    showError(`The demo scan could not be loaded (${/** @type {Error} */ (e).message}); open a file instead.`);
  }
} finally {
  showProgress(null);
  state.ready = true;
}
// Once the page works, its files are kept for offline use (not before: the first visit's
// downloads come first).
keepForOffline().then((status) => {
  state.offline = status;
  $('offline').hidden = status !== 'ready';
});
