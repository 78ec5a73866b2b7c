// Unit tests of the page's side of the worker protocol (web/js/worker-client.js) in Node, with
// a fake Worker: requests and their answers, progress notes, a volume's slice updates, Stop,
// and a worker that dies.

import assert from 'node:assert/strict';
import test from 'node:test';

import { WorkerClient } from '../../web/js/worker-client.js';

/** @typedef {import('../../web/js/protocol.js').WorkerMessage} WorkerMessage */

/** Stands for the browser's Worker: keeps what the page posts, delivers what the test sends. */
class FakeWorker {
  /**
   * @param {URL} url
   * @param {WorkerOptions} options
   */
  constructor(url, options) {
    this.url = url;
    this.options = options;
    /** @type {{message: unknown, transfer: Transferable[] | undefined}[]} */
    this.posted = [];
    this.terminated = false;
    /** @type {((event: {data: WorkerMessage}) => void) | null} */
    this.onmessage = null;
    /** @type {((event: {message: string, preventDefault: () => void}) => void) | null} */
    this.onerror = null;
    FakeWorker.last = this;
  }

  /**
   * @param {unknown} message
   * @param {Transferable[]} [transfer]
   */
  postMessage(message, transfer) {
    this.posted.push({ message, transfer });
  }

  terminate() {
    this.terminated = true;
  }

  /** @param {WorkerMessage} data the worker's message to the page */
  send(data) {
    this.onmessage?.({ data });
  }

  /**
   * The worker dies with an uncaught error; says whether the page kept it from the console.
   * @param {string} message
   */
  die(message) {
    let prevented = false;
    this.onerror?.({ message, preventDefault: () => { prevented = true; } });
    return prevented;
  }
}
/** @type {FakeWorker|null} */
FakeWorker.last = null;

/** A client over a fresh fake worker, and the progress notes it passed on. */
function client() {
  Object.assign(globalThis, { Worker: FakeWorker });
  /** @type {(string|null)[]} */
  const notes = [];
  const c = new WorkerClient(new URL('https://page.test/web/js/worker.js'), (m) => notes.push(m));
  return { c, worker: /** @type {FakeWorker} */ (FakeWorker.last), notes };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('a module worker; each request posted at once with its own id, payload and transfer list', () => {
  const { c, worker } = client();
  assert.deepEqual(worker.options, { type: 'module' });
  const buffer = new ArrayBuffer(4);
  c.request('openScan', { files: [{ name: 'a.nii', bytes: buffer }] }, [buffer]);
  c.request('autoPrompts');
  assert.deepEqual(worker.posted, [
    { message: { id: 1, type: 'openScan', files: [{ name: 'a.nii', bytes: buffer }] }, transfer: [buffer] },
    { message: { id: 2, type: 'autoPrompts' }, transfer: [] },
  ]);
});

test('answers resolve their own request, failures reject it, whatever the order', async () => {
  const { c, worker } = client();
  const first = c.request('segment', { z: 3 });
  const second = c.request('init', { preferWebGpu: false });
  worker.send({ id: 99, ok: true }); // no such request: ignored
  worker.send({ id: 2, ok: false, error: 'no adapter' });
  const labels = new Uint8Array([0, 1]);
  worker.send({ id: 1, ok: true, z: 3, width: 2, height: 1, labels, ms: 5 });
  assert.deepEqual(await first, { id: 1, ok: true, z: 3, width: 2, height: 1, labels, ms: 5 });
  await assert.rejects(second, { message: 'no adapter' });
  assert.equal(c.pending.size, 0, 'nothing left waiting');
});

test('progress notes go to the page; slice updates to their request without settling it', async () => {
  const { c, worker, notes } = client();
  /** @type {number[]} */
  const slices = [];
  const volume = c.request('segmentVolume', { prompts: [] }, [], { onUpdate: (u) => slices.push(u.z) });
  let settled = false;
  volume.then(() => { settled = true; });
  worker.send({ type: 'progress', message: 'weights: 50 %' });
  const update = { type: /** @type {const} */ ('update'), id: 1, done: 1, total: 2, labels: new Uint8Array(1), classes: [1], scores: [0.5], ious: [0.9] };
  worker.send({ ...update, z: 4 });
  worker.send({ ...update, id: 7, z: 9 }); // another request's: not this one's
  worker.send({ ...update, z: 5 });
  await settle();
  assert.deepEqual(notes, ['weights: 50 %']);
  assert.deepEqual(slices, [4, 5]);
  assert.equal(settled, false, 'updates do not answer the request');
  worker.send({ id: 1, ok: true, labels: new Uint8Array(2), ms: 1, fit: { classes: [], fits: true, message: '' } });
  await volume;
});

test('aborting the signal sends Stop (a new id), at once if it was aborted before', async () => {
  const { c, worker } = client();
  const stopper = new AbortController();
  const volume = c.request('segmentVolume', { prompts: [] }, [], { signal: stopper.signal });
  stopper.abort();
  assert.deepEqual(worker.posted.map((p) => p.message), [
    { id: 1, type: 'segmentVolume', prompts: [] },
    { id: 2, type: 'stop' },
  ]);
  worker.send({ id: 1, ok: false, error: 'stopped before the end' });
  await assert.rejects(volume, /stopped before the end/);

  const early = new AbortController();
  early.abort();
  c.request('segmentVolume', { prompts: [] }, [], { signal: early.signal });
  assert.deepEqual(worker.posted.slice(2).map((p) => p.message), [
    { id: 3, type: 'segmentVolume', prompts: [] },
    { id: 4, type: 'stop' },
  ]);
});

test('after its answer, aborting the signal sends nothing', async () => {
  const { c, worker } = client();
  const stopper = new AbortController();
  const preview = c.request('previewSlice', { z: 0, prompts: [] }, [], { signal: stopper.signal });
  worker.send({ id: 1, ok: true, z: 0, labels: new Uint8Array(1), encoded: true, ms: 2 });
  await preview;
  stopper.abort();
  assert.equal(worker.posted.length, 1, 'no stop for a request that is over');
});

test('a worker that dies fails what waits and what comes after, saying why', async () => {
  const { c, worker } = client();
  const waiting = c.request('autoPrompts');
  assert.equal(worker.die('RuntimeError: unreachable'), true, 'the page handles the error');
  assert.equal(c.dead, true);
  await assert.rejects(waiting, { message: 'the model worker failed: RuntimeError: unreachable' });
  await assert.rejects(c.request('segment', { z: 0 }),
    { message: 'the model worker has stopped (it failed: RuntimeError: unreachable)' });
  assert.equal(worker.posted.length, 1, 'nothing is posted to a dead worker');
});

test('terminate stops the worker; later requests fail at once', async () => {
  const { c, worker } = client();
  c.terminate();
  assert.equal(worker.terminated, true);
  await assert.rejects(c.request('stop'), { message: 'the model worker has stopped' });
});
