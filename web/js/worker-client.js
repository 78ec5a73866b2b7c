// Promise-based requests to the model worker (see worker.js for the protocol, protocol.js for
// its types). If the worker dies (a crash in wasm, say), pending requests fail with a message
// instead of hanging.
// Requests are not queued behind one another: each is posted at once, so `stop` reaches the
// worker while a `segmentVolume` is in flight.

/**
 * @import {BareRequestType, Requests, RequestType, VolumeUpdate, WorkerAnswer,
 *   WorkerMessage} from './protocol.js'
 */
/**
 * A request's options: `onUpdate` gets its partial results, aborting `signal` stops it.
 * @typedef {{onUpdate?: (update: VolumeUpdate) => void, signal?: AbortSignal}} RequestOptions
 */
/**
 * A request waiting for its answer. The answer's type is the request's (`request` says which);
 * the map holds requests of every type.
 * @typedef {{resolve: (answer: WorkerAnswer) => void, reject: (e: Error) => void,
 *   onUpdate?: (update: VolumeUpdate) => void}} Waiter
 */

export class WorkerClient {
  /**
   * @param {URL} url module worker script
   * @param {(message: string|null) => void} onProgress
   */
  constructor(url, onProgress) {
    /** True once the worker has died; every later request fails at once, saying why. */
    this.dead = false;
    /** Why the worker died (its error), for the requests that come after. */
    this.deathReason = '';
    this.worker = new Worker(url, { type: 'module' });
    this.nextId = 1;
    /** @type {Map<number, Waiter>} */
    this.pending = new Map();
    this.worker.onmessage = (/** @type {MessageEvent<WorkerMessage>} */ event) => {
      const msg = event.data;
      if (msg.type === 'progress') { onProgress(msg.message); return; }
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      if (msg.type === 'update') { waiter.onUpdate?.(msg); return; }
      this.pending.delete(msg.id);
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new Error(msg.error));
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.dead = true;
      this.deathReason = event.message || 'unknown error';
      const error = new Error(`the model worker failed: ${this.deathReason}`);
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
  }

  /**
   * Sends a request and resolves with the worker's answer. `onUpdate` gets the request's
   * partial results ({type: 'update', id, ...}) as they come. With `signal`, aborting it sends
   * the worker a `stop` message, which ends a running `segmentVolume` after its current slice
   * (the request then fails with "stopped before the end").
   * @template {BareRequestType} K a request that carries nothing
   * @overload
   * @param {K} type
   * @param {Record<string, never>} [payload]
   * @param {Transferable[]} [transfer]
   * @param {RequestOptions} [options]
   * @returns {Promise<WorkerAnswer<K>>}
   */
  /**
   * @template {RequestType} K
   * @overload
   * @param {K} type
   * @param {Requests[K]} payload
   * @param {Transferable[]} [transfer]
   * @param {RequestOptions} [options]
   * @returns {Promise<WorkerAnswer<K>>}
   */
  /**
   * @template {RequestType} K
   * @param {K} type
   * @param {Requests[K]} [payload]
   * @param {Transferable[]} [transfer]
   * @param {RequestOptions} [options]
   * @returns {Promise<WorkerAnswer<K>>}
   */
  request(type, payload, transfer = [], { onUpdate, signal } = {}) {
    const id = this.nextId++;
    if (this.dead) {
      const why = this.deathReason ? ` (it failed: ${this.deathReason})` : '';
      return Promise.reject(new Error(`the model worker has stopped${why}`));
    }
    const stop = () => {
      if (!this.dead) this.worker.postMessage({ id: this.nextId++, type: 'stop' });
    };
    /** @type {Promise<WorkerAnswer<K>>} */
    const answer = new Promise((resolve, reject) => {
      // The worker answers a request with the answer of its type (see protocol.js).
      const answered = /** @type {(answer: WorkerAnswer) => void} */ (resolve);
      this.pending.set(id, { resolve: answered, reject, onUpdate });
      this.worker.postMessage({ id, type, ...payload }, transfer);
      if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop, { once: true });
    });
    return answer.finally(() => {
      signal?.removeEventListener('abort', stop);
    });
  }

  /** Stops the worker. */
  terminate() {
    this.dead = true;
    this.worker.terminate();
  }
}
