// Counts the WebGPU work the model does, for tests and benchmarks (the page's `?gpu-counters`,
// passed on to the model worker): compute dispatches, queue submits, pipelines created, buffer
// read-backs (mapAsync for reading), buffer-to-buffer copies, and the buffers alive (created less
// destroyed) with their bytes. `installGpuCounters` wraps WebGPU's prototype methods once,
// before the wasm module starts using them; the worker then attaches to each slice SAM-2
// propagates what was counted since the previous slice (`sliceCounts`). Counting only: each
// wrapped method calls the original with the same arguments and returns what it returns.
// The rest are pure functions over counts (deltas, medians), unit-tested in Node
// (tests/unit/gpu-counters.test.mjs).

/** @import {GpuCounts, GpuSliceCounts} from './protocol.js' */

/** The counters' names, in the order they are printed. */
export const COUNTER_NAMES = /** @type {const} */ ([
  'dispatches', 'submits', 'pipelines', 'readbacks', 'copies', 'buffersCreated', 'buffersDestroyed',
  'bytesCreated', 'bytesDestroyed',
]);

/** GPUMapMode.READ (a constant of the WebGPU spec; Node has no GPUMapMode). */
const MAP_READ = 1;

/**
 * Counts at zero.
 * @returns {GpuCounts}
 */
export function zeroCounts() {
  return {
    dispatches: 0, submits: 0, pipelines: 0, readbacks: 0, copies: 0, buffersCreated: 0,
    buffersDestroyed: 0, bytesCreated: 0, bytesDestroyed: 0,
  };
}

/**
 * What was counted between two snapshots of the running totals (`after − before`, each counter).
 * @param {GpuCounts} before
 * @param {GpuCounts} after
 * @returns {GpuCounts}
 */
export function countsBetween(before, after) {
  const out = zeroCounts();
  for (const name of COUNTER_NAMES) out[name] = after[name] - before[name];
  return out;
}

/**
 * The buffers alive in totals (created less destroyed) and their bytes.
 * @param {GpuCounts} totals
 * @returns {{liveBuffers: number, liveBytes: number}}
 */
export function live(totals) {
  return {
    liveBuffers: totals.buffersCreated - totals.buffersDestroyed,
    liveBytes: totals.bytesCreated - totals.bytesDestroyed,
  };
}

/**
 * One slice's counts: what was counted since the previous snapshot, and the buffers alive after it.
 * @param {GpuCounts} before totals at the previous slice (or the run's start)
 * @param {GpuCounts} after totals now
 * @returns {GpuSliceCounts}
 */
export function sliceCounts(before, after) {
  return { ...countsBetween(before, after), ...live(after) };
}

/**
 * The median (the mean of the middle two for an even count) and the largest of some numbers;
 * both NaN for none.
 * @param {number[]} values
 * @returns {{median: number, max: number}}
 */
export function medianMax(values) {
  if (!values.length) return { median: NaN, max: NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, max: sorted[sorted.length - 1] };
}

/**
 * Per counter, the median and largest over slices' counts (for the print-out and the bounds).
 * @param {GpuSliceCounts[]} slices
 * @returns {Record<keyof GpuSliceCounts, {median: number, max: number}>}
 */
export function summarise(slices) {
  /** @type {(keyof GpuSliceCounts)[]} */
  const names = [...COUNTER_NAMES, 'liveBuffers', 'liveBytes'];
  return /** @type {Record<keyof GpuSliceCounts, {median: number, max: number}>} */ (
    Object.fromEntries(names.map((name) => [name, medianMax(slices.map((s) => s[name]))])));
}

/**
 * The WebGPU interfaces whose prototypes are wrapped (the worker's globals; a test passes fakes).
 * Any may be missing (no WebGPU): its methods are then not counted.
 * @typedef {{GPUDevice?: Function, GPUQueue?: Function, GPUBuffer?: Function,
 *   GPUComputePassEncoder?: Function, GPUCommandEncoder?: Function}} GpuInterfaces
 */

/**
 * Replaces `proto[name]` by a function that calls `count(thisArg, args)` and then the original
 * (same `this`, same arguments, its result returned). Missing methods are left alone.
 * @param {Function|undefined} iface
 * @param {string} name
 * @param {(self: any, args: any[]) => void} count
 */
function wrap(iface, name, count) {
  const proto = iface?.prototype;
  if (!proto) return;
  const original = proto[name];
  if (typeof original !== 'function') return;
  Object.defineProperty(proto, name, {
    configurable: true, writable: true, enumerable: false,
    /** @this {any} @param {...any} args */
    value: function counted(...args) {
      count(this, args);
      return original.apply(this, args);
    },
  });
}

/**
 * Wraps the WebGPU methods of `interfaces` (by default the global ones) to count into
 * `totals`, and returns the totals (updated in place as the model runs). Call once, before
 * anything uses WebGPU; a buffer destroyed twice counts once, and so do its bytes.
 * @param {GpuInterfaces} [interfaces]
 * @returns {GpuCounts}
 */
export function installGpuCounters(interfaces = /** @type {GpuInterfaces} */ (globalThis)) {
  const totals = zeroCounts();
  /** Buffers created while counting, with their sizes; those destroyed are taken out. */
  const sizes = /** @type {WeakMap<object, number>} */ (new WeakMap());
  const { GPUDevice, GPUQueue, GPUBuffer, GPUComputePassEncoder, GPUCommandEncoder } = interfaces;
  const pipeline = () => { totals.pipelines++; };
  for (const name of ['createComputePipeline', 'createComputePipelineAsync', 'createRenderPipeline',
    'createRenderPipelineAsync']) wrap(GPUDevice, name, pipeline);
  // createBuffer's result is needed (its size, for destroy): wrapped by hand.
  const deviceProto = GPUDevice?.prototype;
  const createBuffer = deviceProto?.createBuffer;
  if (typeof createBuffer === 'function') {
    Object.defineProperty(deviceProto, 'createBuffer', {
      configurable: true, writable: true, enumerable: false,
      /** @this {any} @param {...any} args */
      value: function counted(...args) {
        const buffer = createBuffer.apply(this, args);
        const size = Number(args[0]?.size) || 0;
        totals.buffersCreated++;
        totals.bytesCreated += size;
        if (buffer && typeof buffer === 'object') sizes.set(buffer, size);
        return buffer;
      },
    });
  }
  wrap(GPUBuffer, 'destroy', (buffer) => {
    const size = sizes.get(buffer);
    if (size === undefined) return; // destroyed before, or created before counting began
    sizes.delete(buffer);
    totals.buffersDestroyed++;
    totals.bytesDestroyed += size;
  });
  wrap(GPUBuffer, 'mapAsync', (_buffer, [mode]) => { if (Number(mode) & MAP_READ) totals.readbacks++; });
  wrap(GPUQueue, 'submit', () => { totals.submits++; });
  wrap(GPUComputePassEncoder, 'dispatchWorkgroups', () => { totals.dispatches++; });
  wrap(GPUComputePassEncoder, 'dispatchWorkgroupsIndirect', () => { totals.dispatches++; });
  wrap(GPUCommandEncoder, 'copyBufferToBuffer', () => { totals.copies++; });
  return totals;
}
