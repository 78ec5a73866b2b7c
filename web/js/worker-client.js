// Promise-based requests to the model worker (see worker.js for the protocol). If the worker
// dies (a crash in wasm, say), pending requests fail with a message instead of hanging.

export class WorkerClient {
  /**
   * @param {URL} url module worker script
   * @param {(message: string|null) => void} onProgress
   */
  constructor(url, onProgress) {
    /** True once the worker has died; every later request fails at once. */
    this.dead = false;
    this.worker = new Worker(url, { type: 'module' });
    this.nextId = 1;
    /** @type {Map<number, {resolve: (v: any) => void, reject: (e: Error) => void}>} */
    this.pending = new Map();
    this.worker.onmessage = (event) => {
      const msg = event.data;
      if (msg.type === 'progress') { onProgress(msg.message); return; }
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.ok) waiter.resolve(msg);
      else waiter.reject(new Error(msg.error));
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.dead = true;
      const error = new Error(`the model worker failed: ${event.message || 'unknown error'}`);
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
  }

  /**
   * Sends a request and resolves with the worker's answer.
   * @param {string} type
   * @param {object} [payload]
   * @param {Transferable[]} [transfer]
   * @returns {Promise<any>}
   */
  request(type, payload = {}, transfer = []) {
    const id = this.nextId++;
    if (this.dead) return Promise.reject(new Error('the model worker has stopped'));
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, ...payload }, transfer);
    });
  }

  /** Stops the worker. */
  terminate() {
    this.dead = true;
    this.worker.terminate();
  }
}
