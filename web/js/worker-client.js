// Promise-based requests to the model worker (see worker.js for the protocol). If the worker
// dies (a crash in wasm, say), pending requests fail with a message instead of hanging.
// Requests are not queued behind one another: each is posted at once, so `stop` reaches the
// worker while a `segmentVolume` is in flight.

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
    /**
     * @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void,
     *   onUpdate?: (update: any) => void}>}
     */
    this.pending = new Map();
    this.worker.onmessage = (event) => {
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
   * @param {string} type
   * @param {object} [payload]
   * @param {Transferable[]} [transfer]
   * @param {{onUpdate?: (update: any) => void, signal?: AbortSignal}} [options]
   * @returns {Promise<any>}
   */
  request(type, payload = {}, transfer = [], { onUpdate, signal } = {}) {
    const id = this.nextId++;
    if (this.dead) {
      const why = this.deathReason ? ` (it failed: ${this.deathReason})` : '';
      return Promise.reject(new Error(`the model worker has stopped${why}`));
    }
    const stop = () => {
      if (!this.dead) this.worker.postMessage({ id: this.nextId++, type: 'stop' });
    };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onUpdate });
      this.worker.postMessage({ id, type, ...payload }, transfer);
      if (signal?.aborted) stop();
      else signal?.addEventListener('abort', stop, { once: true });
    }).finally(() => {
      signal?.removeEventListener('abort', stop);
    });
  }

  /** Stops the worker. */
  terminate() {
    this.dead = true;
    this.worker.terminate();
  }
}
