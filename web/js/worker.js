// The model's worker: it owns the wasm module, the compute device (WebGPU or flex CPU), the
// loaded weights and the parsed scan, so the page's main thread never blocks on the model.
// Messages in: {id, type, ...}; every request is answered with {id, ok: true, ...} or
// {id, ok: false, error}. Progress notes go out as {type: 'progress', message}; a request's
// partial results as {type: 'update', id, ...} before its answer.
// Slice-network weights answer `segment` (one slice); SSS weights answer `autoPrompts` (coarse
// head + PCSW prompts) and `segmentVolume` (SAM-2 propagation of given prompts: an update with
// each slice's labels as it is propagated). `stop` asks a running `segmentVolume` to end after
// the slice it is on (it then fails with "stopped before the end"). protocol.js has the types of
// every message.
// The propagation yields to the event loop after every slice (on WebGPU and on the CPU), so
// the `stop` message is handled while it runs.
// `stats` answers the wasm instance's memory and, when `init` asked for them (the page's
// `?gpu-counters`), the WebGPU counts of gpu-counters.js, which are also attached to each
// slice's update: for the tests that count dispatches and soak the page.

import init, { Scan, Segmenter } from '../../pkg/sss.js';
import { installGpuCounters, sliceCounts, zeroCounts } from './gpu-counters.js';

/**
 * @import {FitReport, GpuCounts, GpuSliceCounts, ModalityGuess, Replies, RequestType,
 *   StageTimings, WeightsKind, WorkerMessage, WorkerRequest} from './protocol.js'
 */

/** @type {Segmenter|null} */ let segmenter = null;
/** @type {Scan|null} */ let scan = null;
/** The slice network's intensity bounds of the open scan, `[low, high]`. @type {Float32Array|null} */
let range = null;
/** The loaded weights' kind: 'slice-net' or 'sss' (null before any are loaded). */
let kind = /** @type {WeightsKind|null} */ (null);
/** The wasm instance's linear memory (set by `init`). @type {WebAssembly.Memory|null} */
let wasmMemory = null;
/** The WebGPU counts since `init`, updated as the model runs; null when not counting. */
let gpuTotals = /** @type {GpuCounts|null} */ (null);

/**
 * Posts a message to the page (protocol.js says which).
 * @param {WorkerMessage} message
 * @param {Transferable[]} [transfer]
 */
function post(message, transfer = []) {
  postMessage(message, transfer);
}

/** @param {string} message */
function progress(message) {
  post({ type: 'progress', message });
}


/**
 * Whether burn's WebGPU runtime can run on this adapter, and if not, why.
 * @returns {Promise<string|null>} null when usable, else the reason
 */
async function webGpuProblem() {
  if (!('gpu' in navigator)) return 'this browser exposes no WebGPU to workers';
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return 'no WebGPU adapter is available';
  // burn's runtime cannot run in wasm without timestamp queries: cubecl-wgpu 0.11.3 panics when it
  // creates its stream (`compute/stream.rs`: "Cannot profile on web assembly without
  // timestamp_query"; measured 2026-12-03 by hiding the feature from the adapter).
  if (!adapter.features.has('timestamp-query')) return 'the WebGPU adapter lacks timestamp-query';
  return null;
}

/**
 * Fetches a URL into bytes, reporting progress.
 * @param {string} url
 * @param {string} what
 */
async function fetchBytes(url, what) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${what}: ${url} answered ${response.status}`);
  const total = Number(response.headers.get('content-length')) || 0;
  if (!response.body || !total) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const out = new Uint8Array(total);
  let done = 0;
  for (;;) {
    const chunk = await reader.read();
    if (chunk.done) break;
    out.set(chunk.value, done);
    done += chunk.value.length;
    progress(`${what}: ${Math.round((100 * done) / total)} %`);
  }
  return out.subarray(0, done);
}

/**
 * Whether a file starts like DICOM (Part 10: a 128-byte preamble, then "DICM").
 * @param {Uint8Array} bytes
 */
function isDicom(bytes) {
  return bytes.length > 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/**
 * Whether a file is a PNG or JPEG image: by its name, or its first bytes (the wasm reader says
 * so in words when a file so named is not one).
 * @param {string} name
 * @param {Uint8Array} bytes
 */
function isImage(name, bytes) {
  if (/\.(png|jpe?g)$/i.test(name)) return true;
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return png.every((b, i) => bytes[i] === b) || (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff);
}

/**
 * Each request's handler: its message in, its answer out, with the buffers to transfer.
 * @type {{[K in RequestType]: (msg: WorkerRequest<K>) => Promise<Replies[K] & {transfer?: Transferable[]}>}}
 */
const handlers = {
  async init(msg) {
    progress('loading the model runtime (wasm)');
    // Before the wasm module first touches WebGPU, so that every call of it is counted.
    if (msg.gpuCounters && !gpuTotals) gpuTotals = installGpuCounters();
    wasmMemory = (await init()).memory;
    let reason = msg.preferWebGpu ? await webGpuProblem() : 'WebGPU disabled by the user';
    progress(reason ? `starting the CPU backend (${reason})` : 'starting WebGPU');
    segmenter = await Segmenter.create(!reason);
    reason = reason ?? segmenter.fallbackReason() ?? null;
    return { backend: segmenter.backend(), fallbackReason: reason };
  },

  async loadWeights(msg) {
    if (!segmenter) throw new Error('the model runtime is not started');
    const manifestText = new TextDecoder().decode(await fetchBytes(msg.manifestUrl, 'manifest'));
    const manifest = JSON.parse(manifestText);
    const weightsUrl = new URL(manifest.weights_file, new URL(msg.manifestUrl, location.href));
    const weights = await fetchBytes(weightsUrl.href, 'weights');
    progress('loading the weights onto the device');
    segmenter.loadWeights(manifestText, weights);
    kind = /** @type {WeightsKind} */ (segmenter.kind());
    range = scan && kind === 'slice-net' ? segmenter.intensityRange(scan) : null;
    return { manifest: JSON.parse(segmenter.manifest()), kind };
  },

  /**
   * Opens a scan: one NIfTI file, one PNG or JPEG image (a one-slice volume), or the files of a
   * DICOM series (several files, any order; a single file that starts like DICOM too). `notes`
   * says what reading left out; `affine` places the voxels in the patient (null for an image).
   */
  async openScan(msg) {
    const { files } = msg;
    const first = new Uint8Array(files[0].bytes);
    const dicom = files.length > 1 || isDicom(first);
    progress(dicom ? `reading a DICOM series (${files.length} files)` : `reading ${files[0].name}`);
    const parsed = dicom
      ? Scan.fromDicomFiles(files.map((f) => f.name), files.map((f) => new Uint8Array(f.bytes)))
      : isImage(files[0].name, first) ? Scan.fromImage(first) : Scan.fromBytes(first);
    scan?.free();
    scan = parsed;
    range = segmenter && kind === 'slice-net' ? segmenter.intensityRange(scan) : null;
    // A fresh array of its own (see `Scan::voxels`), transferred to the page below.
    const voxels = scan.voxels();
    const [lo, hi] = scan.percentiles(0.5, 99.5);
    return {
      dims: Array.from(scan.dims()),
      spacing: Array.from(scan.spacing()),
      voxels,
      window: [lo, hi],
      modality: /** @type {ModalityGuess|undefined} */ (scan.modality()) ?? null,
      notes: scan.notes(),
      affine: scan.affine() ? Array.from(/** @type {Float32Array} */ (scan.affine())) : null,
      transfer: [voxels.buffer],
    };
  },

  /**
   * The label map as a `.nii.gz` file in the open scan's own header (its exact geometry).
   */
  async exportLabels(msg) {
    if (!scan) throw new Error('no scan is open');
    // A copy out of wasm memory, in an ArrayBuffer of its own (transferred below).
    const bytes = /** @type {Uint8Array<ArrayBuffer>} */ (scan.labelsAsNifti(msg.labels));
    return { bytes, transfer: [bytes.buffer] };
  },

  async segment(msg) {
    if (!segmenter || !kind) throw new Error('no weights are loaded');
    if (!scan) throw new Error('no scan is open');
    const [nx, ny] = scan.dims();
    range = range ?? segmenter.intensityRange(scan);
    const started = performance.now();
    const labels = /** @type {Uint8Array} */ (
      await segmenter.segmentSlice(scan.slice(msg.z), nx, ny, range[0], range[1]));
    const ms = performance.now() - started;
    return { z: msg.z, width: nx, height: ny, labels, ms, transfer: [labels.buffer] };
  },

  /** SSS: the coarse head over the open scan, then PCSW's prompt for every class. */
  async autoPrompts() {
    if (!segmenter || !kind) throw new Error('no weights are loaded');
    if (!scan) throw new Error('no scan is open');
    progress('coarse head and PCSW prompts');
    const started = performance.now();
    const reply = /** @type {{prompts: string, coarse: Uint8Array}} */ (await segmenter.autoPrompts(scan));
    const ms = performance.now() - started;
    const { coarse } = reply;
    return { prompts: JSON.parse(reply.prompts), coarse, ms, transfer: [coarse.buffer] };
  },

  /**
   * SSS: SAM-2 propagation of `prompts` (an array of {class, prompt}) through the open scan.
   * After each slice an update {id, type: 'update', z, done, total, labels, classes, scores,
   * ious} (that slice's label map, x fastest, and per tracked class SAM-2's object score logit
   * and predicted IoU of the mask chosen) goes out; the answer is the whole label map and the
   * fit check of it
   * (`fit`: {classes, fits, message}, see the wasm `fitReport`).
   */
  async segmentVolume(msg) {
    if (!segmenter || !kind) throw new Error('no weights are loaded');
    if (!scan) throw new Error('no scan is open');
    const started = performance.now();
    /** The WebGPU totals at the last slice (or the start), when counting. */
    let counted = gpuTotals ? { ...gpuTotals } : null;
    const labels = /** @type {Uint8Array} */ (await segmenter.segmentVolume(scan, JSON.stringify(msg.prompts),
      (/** @type {number} */ done, /** @type {number} */ total, /** @type {number} */ z,
        /** @type {Uint8Array} */ slice, /** @type {Uint8Array} */ classes, /** @type {Float32Array} */ scores,
        /** @type {Float32Array} */ ious) => {
        /** @type {GpuSliceCounts|undefined} */
        let gpu;
        if (gpuTotals && counted) {
          gpu = sliceCounts(counted, gpuTotals);
          counted = { ...gpuTotals };
        }
        post({
          type: 'update', id: msg.id, z, done, total, labels: slice,
          classes: Array.from(classes), scores: Array.from(scores), ious: Array.from(ious),
          ...(gpu ? { gpu } : {}),
        }, [slice.buffer]);
      }));
    const ms = performance.now() - started;
    // What the drawn class sizes say about the scan against the weights' training scans.
    const fit = /** @type {FitReport} */ (segmenter.fitReport(scan, labels));
    return { labels, ms, fit, transfer: [labels.buffer] };
  },

  /**
   * SSS: slice `z`'s label map (x fastest) from SAM-2's masks of the prompts on it, the
   * slice's image embedding kept between calls, so a correction on the same slice runs only
   * the prompt encoder and mask decoder (`encoded` says whether the image encoder ran).
   */
  async previewSlice(msg) {
    if (!segmenter || !kind) throw new Error('no weights are loaded');
    if (!scan) throw new Error('no scan is open');
    const started = performance.now();
    const reply = /** @type {{labels: Uint8Array, encoded: boolean}} */ (
      await segmenter.previewSlice(scan, msg.z, JSON.stringify(msg.prompts)));
    const ms = performance.now() - started;
    const { labels } = reply;
    return { z: msg.z, labels, encoded: reply.encoded, ms, transfer: [labels.buffer] };
  },

  /** Asks a running `segmentVolume` to stop after its current slice (see the top). */
  async stop() {
    segmenter?.stop();
    return {};
  },
  /**
   * The wasm instance's memory in bytes and, when counting (`?gpu-counters`), the WebGPU totals
   * since `init` with the buffers alive: for the soak test, which looks for growth.
   */
  async stats() {
    return {
      wasmMemoryBytes: wasmMemory?.buffer.byteLength ?? 0,
      gpu: gpuTotals ? sliceCounts(zeroCounts(), gpuTotals) : null,
    };
  },
  /**
   * SSS: SAM-2's stages timed on this device for the loaded weights' config: each stage's first
   * run, then the median of `iters` runs after `warmup` (a randomly initialised model of the
   * same config, so the open scan and the weights are left as they are).
   */
  async benchStages(msg) {
    if (!segmenter || !kind) throw new Error('no weights are loaded');
    return /** @type {StageTimings} */ (JSON.parse(await segmenter.benchSam2Stages(msg.iters, msg.warmup)));
  },
  /** Test hook: dies right after answering, with an uncaught error, as a crash in wasm would. */
  async crashForTest() {
    setTimeout(() => { throw new Error('crash requested by a test'); });
    return {};
  },
};

/**
 * Runs the handler of `msg`'s type.
 * @template {RequestType} K
 * @param {WorkerRequest<K>} msg
 */
function handle(msg) {
  /** @type {(msg: WorkerRequest<K>) => Promise<Replies[K] & {transfer?: Transferable[]}>} */
  const handler = handlers[msg.type];
  return handler(msg);
}

self.onmessage = async (/** @type {MessageEvent<WorkerRequest>} */ event) => {
  const { id, type } = event.data;
  try {
    // Own properties only: a request named after an Object method (`toString`) is unknown too.
    if (!Object.hasOwn(handlers, type)) throw new Error(`unknown request ${type}`);
    const { transfer = [], ...result } = await handle(event.data);
    post({ id, ok: true, ...result }, transfer);
  } catch (e) {
    post({ id, ok: false, error: String(/** @type {Error|undefined} */ (e)?.message ?? e) });
  }
};
