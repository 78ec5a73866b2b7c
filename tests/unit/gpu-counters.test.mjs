// Unit tests of the WebGPU counters (web/js/gpu-counters.js) in Node, on fake WebGPU classes:
// each wrapped method is counted and still does what it did (same this, arguments, result);
// read-backs are maps for reading only; a buffer destroyed twice counts once; deltas between
// snapshots, live buffers, medians and summaries.

import assert from 'node:assert/strict';
import test from 'node:test';

import {
  COUNTER_NAMES, countsBetween, installGpuCounters, live, medianMax, sliceCounts, summarise,
  zeroCounts,
} from '../../web/js/gpu-counters.js';

/** @typedef {import('../../web/js/protocol.js').GpuCounts} GpuCounts */

/** Fake WebGPU interfaces, each method logging its call and returning something of its own. */
function fakeWebGpu() {
  /** @type {string[]} */ const calls = [];
  class GPUBuffer {
    /** @param {number} size */
    constructor(size) { this.size = size; }
    destroy() { calls.push(`destroy ${this.size}`); }
    /** @param {number} mode */
    mapAsync(mode) { calls.push(`map ${mode}`); return Promise.resolve(mode); }
  }
  class GPUDevice {
    /** @param {{size: number}} descriptor */
    createBuffer(descriptor) { calls.push('createBuffer'); return new GPUBuffer(descriptor.size); }
    /** @param {string} label */
    createComputePipeline(label) { calls.push(`pipeline ${label}`); return { label }; }
    /** @param {string} label */
    createComputePipelineAsync(label) { return Promise.resolve({ label }); }
    createRenderPipeline() { return {}; }
  }
  class GPUQueue {
    /** @param {unknown[]} buffers */
    submit(buffers) { calls.push(`submit ${buffers.length}`); }
  }
  class GPUComputePassEncoder {
    /**
     * @param {number} x
     * @param {number} [y]
     * @param {number} [z]
     */
    dispatchWorkgroups(x, y = 1, z = 1) { calls.push(`dispatch ${x}×${y}×${z}`); return this; }
    dispatchWorkgroupsIndirect() { calls.push('indirect'); }
  }
  class GPUCommandEncoder {
    copyBufferToBuffer() { calls.push('copy'); }
  }
  return { calls, interfaces: { GPUDevice, GPUQueue, GPUBuffer, GPUComputePassEncoder, GPUCommandEncoder } };
}

test('every wrapped method is counted and still runs as before', async () => {
  const { calls, interfaces } = fakeWebGpu();
  const totals = installGpuCounters(interfaces);
  assert.deepEqual(totals, zeroCounts());
  const device = new interfaces.GPUDevice();
  const pass = new interfaces.GPUComputePassEncoder();
  assert.equal(pass.dispatchWorkgroups(4, 2), pass, 'the result and `this` are the original\'s');
  pass.dispatchWorkgroups(1);
  pass.dispatchWorkgroupsIndirect();
  assert.deepEqual(device.createComputePipeline('a'), { label: 'a' });
  assert.deepEqual(await device.createComputePipelineAsync('b'), { label: 'b' });
  device.createRenderPipeline();
  new interfaces.GPUQueue().submit([1, 2]);
  new interfaces.GPUCommandEncoder().copyBufferToBuffer();
  const read = device.createBuffer({ size: 256 });
  const write = device.createBuffer({ size: 64 });
  assert.ok(read instanceof interfaces.GPUBuffer);
  assert.equal(await read.mapAsync(1), 1, 'mapAsync resolves as before');
  await write.mapAsync(2); // GPUMapMode.WRITE: not a read-back
  assert.deepEqual(totals, {
    dispatches: 3, submits: 1, pipelines: 3, readbacks: 1, copies: 1, buffersCreated: 2,
    buffersDestroyed: 0, bytesCreated: 320, bytesDestroyed: 0,
  });
  assert.deepEqual(calls, ['dispatch 4×2×1', 'dispatch 1×1×1', 'indirect', 'pipeline a', 'submit 2', 'copy',
    'createBuffer', 'createBuffer', 'map 1', 'map 2']);
  assert.deepEqual(live(totals), { liveBuffers: 2, liveBytes: 320 });

  read.destroy();
  read.destroy(); // WebGPU allows it; counted once
  assert.deepEqual(live(totals), { liveBuffers: 1, liveBytes: 64 });
  assert.equal(calls.filter((c) => c === 'destroy 256').length, 2, 'destroy still runs each time');
});

test('a buffer made before counting began is not counted when destroyed', () => {
  const { interfaces } = fakeWebGpu();
  const early = new interfaces.GPUDevice().createBuffer({ size: 8 });
  const totals = installGpuCounters(interfaces);
  early.destroy();
  assert.deepEqual(live(totals), { liveBuffers: 0, liveBytes: 0 });
});

test('missing interfaces (no WebGPU) are left alone', () => {
  const totals = installGpuCounters({});
  assert.deepEqual(totals, zeroCounts());
});

test('deltas between snapshots, per slice with the buffers alive after it', () => {
  const before = { ...zeroCounts(), dispatches: 10, submits: 2, buffersCreated: 5, bytesCreated: 500 };
  /** @type {GpuCounts} */
  const after = {
    dispatches: 40, submits: 3, pipelines: 0, readbacks: 1, copies: 2, buffersCreated: 7,
    buffersDestroyed: 1, bytesCreated: 700, bytesDestroyed: 100,
  };
  const delta = countsBetween(before, after);
  assert.deepEqual(delta, {
    dispatches: 30, submits: 1, pipelines: 0, readbacks: 1, copies: 2, buffersCreated: 2,
    buffersDestroyed: 1, bytesCreated: 200, bytesDestroyed: 100,
  });
  assert.deepEqual(sliceCounts(before, after), { ...delta, liveBuffers: 6, liveBytes: 600 });
  assert.deepEqual(Object.keys(zeroCounts()), [...COUNTER_NAMES], 'every counter has a name');
});

test('median and largest', () => {
  assert.deepEqual(medianMax([3, 1, 2]), { median: 2, max: 3 });
  assert.deepEqual(medianMax([4, 1, 3, 2]), { median: 2.5, max: 4 });
  assert.deepEqual(medianMax([7]), { median: 7, max: 7 });
  const none = medianMax([]);
  assert.ok(Number.isNaN(none.median) && Number.isNaN(none.max));
});

test('a summary per counter over slices', () => {
  const slice = (/** @type {number} */ dispatches, /** @type {number} */ readbacks) => ({
    ...zeroCounts(), dispatches, readbacks, liveBuffers: 10, liveBytes: 1000,
  });
  const summary = summarise([slice(3000, 1), slice(3100, 1), slice(2900, 0)]);
  assert.deepEqual(summary.dispatches, { median: 3000, max: 3100 });
  assert.deepEqual(summary.readbacks, { median: 1, max: 1 });
  assert.deepEqual(summary.liveBuffers, { median: 10, max: 10 });
  assert.deepEqual(summary.pipelines, { median: 0, max: 0 });
});
