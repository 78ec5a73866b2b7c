// Typed events for the page's parts: a class extends `Emitter<Events>` (Events: event type →
// payload) and its owner listens with `on`. sss-panel.js uses it to tell main.js what happened.

/**
 * Typed events: listeners by event type, each called with its event's payload.
 * @template {object} Events event type → payload (`undefined`: none)
 */
export class Emitter {
  constructor() {
    /** @type {{[K in keyof Events]?: ((payload: Events[K]) => void)[]}} */
    this.listeners = {};
  }

  /**
   * Calls `listener` on every `type` event from now on.
   * @template {keyof Events} K
   * @param {K} type
   * @param {(payload: Events[K]) => void} listener
   */
  on(type, listener) {
    (this.listeners[type] ??= []).push(listener);
  }

  /**
   * Calls the listeners of `type` at once, in the order added, with `payload` (left out where
   * the event has none); an exception in one reaches the caller.
   * @type {<K extends keyof Events>(type: K,
   *   ...payload: undefined extends Events[K] ? [payload?: Events[K]] : [payload: Events[K]]) => void}
   */
  emit(type, ...payload) {
    // The rest tuple above leaves the payload out only where its type admits undefined.
    const listeners = /** @type {((payload: unknown) => void)[]} */ (this.listeners[type] ?? []);
    for (const listener of listeners) listener(payload[0]);
  }
}
