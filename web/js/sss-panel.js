// The SSS side of the page: segmenting the whole volume (the coarse head and PCSW's prompts,
// then SAM-2's propagation of the prompts in use, each slice's masks shown as it comes; Stop
// ends it early), the prompts panel (per class its slice, its source and ×), correcting
// prompts on the image (a drag draws a class's box, Alt+click moves its point), Re-run and
// Reset prompts, and which label map the overlay shows: SAM-2's masks or the coarse head's.
// Corrections at interactive speed: with a class picked, a click on its prompt's slice adds a
// point the object includes (Shift+click: leaves out), and each edit (click, box, point) shows
// that slice's new masks at once from SAM-2's image predictor, the slice's embedding kept in
// the worker (`previewSlice`); Re-run propagates. Every prompt edit can be undone and redone
// (buttons, Ctrl+Z / Ctrl+Shift+Z), with the slice masks its preview changed. With "Propagate
// each edit" on, every prompt edit (and its undo or redo) is followed by a propagation of the
// prompts as they now are, which a newer edit stops and starts again. The brush and the
// eraser (tools, keys B and E) paint the picked class into the label map, or take it out, on
// the shown slice: touch-ups after propagation, undoable too.
// main.js owns the page (scan, view, renderer, worker) and is the host: the panel asks it for
// what it needs (`SssHost`) and tells it what happened through typed events (`SssPanelEvents`).

import { Emitter } from './emitter.js';
import { PromptLayer, USER, isActive, sourceText, userBox } from './prompts.js';
import { ScoreStrip } from './score-strip.js';

/** @import {ClassPrompt, VolumeUpdate, WorkerAnswer} from './protocol.js' */
/**
 * What a drag on the image does with a class picked: edit its prompt, paint it, or erase it.
 * @typedef {'prompt'|'brush'|'eraser'} Tool
 */
/** @type {readonly Tool[]} */
export const TOOLS = ['prompt', 'brush', 'eraser'];

/**
 * One undoable edit: the prompts before and after it and, once it has changed a slice's masks
 * (a prompt edit's preview, a brush stroke), that slice's label map before and after (dropped
 * when a propagation replaces the masks).
 * `stroke`: a brush or eraser stroke (the prompts unchanged), which never propagates.
 * @typedef {{before: ClassPrompt[]|null, after: ClassPrompt[]|null, stroke?: true,
 *   slice?: {z: number, before: Uint8Array, after: Uint8Array}}} Edit
 */
/** @typedef {import('./prompts.js').ViewTransform} ViewTransform */

/**
 * The label maps the overlay can show: 'sam2', SAM-2's masks propagated from the prompts, or
 * 'coarse', the coarse head's (which PCSW picked the prompts from).
 * @typedef {'sam2'|'coarse'} MaskView
 */
/** @type {readonly MaskView[]} */
export const MASK_VIEWS = ['sam2', 'coarse'];

/**
 * What the panel asks of the page (main.js). `state` is the page state (`window.sss`): the
 * panel reads the scan, manifest, `z`, `busy` and `kind`, and owns the SSS fields (`prompts`,
 * `autoPrompts`, `coarse`, `labels`, `propagated`, `propagation`, `lastVolume`,
 * `selectedClass`, `view`) and, for SSS weights, `masks`. Each slice SAM-2 propagates is also
 * announced as a `sss-slice` event on `window` (detail: {z, done, total, labels}, the slice's
 * label map), after the page has taken it in.
 * @typedef {object} SssHost
 * @property {import('./main.js').PageState} state
 * @property {HTMLElement} stage the element over the slice (pointer events, cursor)
 * @property {HTMLElement} timing where the time taken is written
 * @property {() => import('./worker-client.js').WorkerClient} worker the model worker now
 * @property {() => number} generation counts opened scans (a result for an older one is dropped)
 * @property {(e: MouseEvent) => {x: number, y: number}} slicePixel the slice pixel under a pointer
 * @property {(message: string) => Promise<Recovery>} recoverOnCpu after a request failed with
 *   `message`: where the worker died on WebGPU, says so and restarts the model on the CPU
 */

/**
 * What `recoverOnCpu` did: 'restarted' (the model runs on the CPU now: ask again), 'failed'
 * (the restart failed too; the page said so), or null (the worker did not die on WebGPU: the
 * failure is the request's own, for the caller to report).
 * @typedef {'restarted'|'failed'|null} Recovery
 */

/**
 * What the panel tells the page, by event: the payload each listener gets (none where it is
 * `undefined`). Listeners run at once, in the order added, as the callbacks they replace did.
 * @typedef {object} SssPanelEvents
 * @property {undefined} draw redraw slice, overlay and prompts on the next frame
 * @property {undefined} showMask the shown slice's entry in `state.masks` changed: hand it to
 *   the renderer and redraw
 * @property {number} goToSlice show slice `z`
 * @property {undefined} syncButtons enable the page's buttons that can act now
 * @property {string} error say that something failed
 * @property {string|null} progress what the model is doing now (null: nothing)
 * @property {undefined} autoSegment segment the open scan where the page is set to do so
 */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** The message with which a `segmentVolume` stopped by the page fails (see the wasm API). */
const STOPPED = 'stopped before the end';

/** How many edits Undo goes back. */
const UNDO_DEPTH = 100;

/** The most correction clicks one prompt takes (the wasm API's `MAX_CLICKS`). */
const MAX_CLICKS = 64;

/**
 * Voxels per label in a label map: `counts[l]` for every label `l` below `classes` (0 where
 * none), and for any larger label the map holds.
 * @param {Iterable<number>} labels
 * @param {number} classes how many classes the weights have
 * @returns {number[]}
 */
export function classCounts(labels, classes) {
  /** @type {number[]} */
  const counts = new Array(classes).fill(0);
  for (const l of labels) counts[l] = (counts[l] ?? 0) + 1;
  return counts;
}

/**
 * A file name's stem without `.nii.gz` / `.nii` (or another extension).
 * @param {string} name
 */
function scanStem(name) {
  const base = name.split('/').pop() ?? name;
  return base.replace(/\.nii\.gz$|\.nii$|\.[^.]+$/i, '') || 'scan';
}

/**
 * Hands `blob` to the browser as a download named `name` (nothing leaves the machine).
 * @param {Blob} blob
 * @param {string} name
 */
function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The SSS prompts panel, prompt editing, volume segmentation and the mask view.
 * @extends {Emitter<SssPanelEvents>}
 */
export class SssPanel extends Emitter {
  /** @param {SssHost} host */
  constructor(host) {
    super();
    this.host = host;
    this.ui = {
      section: $('prompts-section'), prompts: $('prompts'), hint: $('prompt-hint'),
      rerun: /** @type {HTMLButtonElement} */ ($('rerun')),
      stop: /** @type {HTMLButtonElement} */ ($('stop')),
      resetPrompts: /** @type {HTMLButtonElement} */ ($('reset-prompts')),
      saveLabels: /** @type {HTMLButtonElement} */ ($('save-labels')),
      savePrompts: /** @type {HTMLButtonElement} */ ($('save-prompts')),
      views: /** @type {HTMLInputElement[]} */ (Array.from(document.querySelectorAll('input[name="mask-view"]'))),
      viewNote: $('view-note'),
      fit: $('volume-fit'),
      undo: /** @type {HTMLButtonElement} */ ($('undo')),
      redo: /** @type {HTMLButtonElement} */ ($('redo')),
      tools: /** @type {HTMLInputElement[]} */ (Array.from(document.querySelectorAll('input[name="tool"]'))),
      brushSize: /** @type {HTMLInputElement} */ ($('brush-size')),
      brushSizeOut: $('brush-size-out'),
      strip: /** @type {HTMLCanvasElement} */ ($('score-strip')),
      autoPropagate: /** @type {HTMLInputElement} */ ($('auto-propagate')),
    };
    /** SAM-2's object scores and IoUs along the slices; a click there goes to that slice. */
    this.strip = new ScoreStrip(this.ui.strip, host.state, (z) => this.emit('goToSlice', z));
    /**
     * Whether each prompt edit (and its undo or redo) propagates at once, after its slice's
     * preview; `again`: an edit came while a propagation ran, which was stopped to run anew;
     * `settled`: the last propagation this started (awaited by `settled()`).
     */
    this.auto = { on: this.ui.autoPropagate.checked, again: false, settled: Promise.resolve() };
    this.ui.autoPropagate.addEventListener('change', () => this.setAutoPropagate(this.ui.autoPropagate.checked));
    /** What a drag does with a class picked. */
    this.tool = /** @type {Tool} */ ('prompt');
    /** Prompt edits to undo (last is newest) and undone edits to redo. */
    this.history = { done: /** @type {Edit[]} */ ([]), undone: /** @type {Edit[]} */ ([]) };
    /** Counts volume segmentations started: a preview asked before one is dropped. */
    this.runs = 0;
    /** Previews asked and not yet shown, by the edit they belong to. */
    this.pending = /** @type {Map<Edit, Promise<boolean>>} */ (new Map());
    this.layer = new PromptLayer(/** @type {HTMLCanvasElement} */ ($('prompt-layer')));
    /** The box being dragged, drawn dashed until the button is released. */
    this.preview = /** @type {ClassPrompt|null} */ (null);
    /** Aborted to stop the running volume segmentation; null while none runs. */
    this.stopper = /** @type {AbortController|null} */ (null);
    this.ui.rerun.addEventListener('click', () => this.segment(false));
    this.ui.stop.addEventListener('click', () => this.stop());
    this.ui.saveLabels.addEventListener('click', () => this.saveLabels());
    this.ui.savePrompts.addEventListener('click', () => this.savePrompts());
    this.ui.resetPrompts.addEventListener('click', () => {
      if (host.state.autoPrompts) this.edit(host.state.autoPrompts);
    });
    this.ui.undo.addEventListener('click', () => this.undo());
    this.ui.redo.addEventListener('click', () => this.redo());
    for (const radio of this.ui.tools) {
      radio.addEventListener('change', () => { if (radio.checked) this.setTool(/** @type {Tool} */ (radio.value)); });
    }
    this.ui.brushSize.addEventListener('input', () => { this.ui.brushSizeOut.textContent = this.ui.brushSize.value; });
    for (const radio of this.ui.views) {
      radio.addEventListener('change', () => { if (radio.checked) this.setView(/** @type {MaskView} */ (radio.value)); });
    }
  }

  /**
   * A new scan is open: forgets the prompts, label maps and results of the previous one, and
   * stops segmenting it.
   */
  reset() {
    const { state } = this.host;
    this.stopper?.abort();
    state.prompts = null;
    state.autoPrompts = null;
    state.coarse = null;
    state.labels = null;
    state.propagated = new Set();
    state.propagation = null;
    state.lastVolume = null;
    state.selectedClass = null;
    state.lastPreview = null;
    state.objectScores = null;
    this.strip.forgetTip();
    this.preview = null;
    this.history = { done: [], undone: [] };
    this.showFit(null);
  }

  /**
   * Says what the fit check found about the last segmentation (classes drawn far from the
   * sizes the weights' training scans hold; nothing when all is well or none ran).
   * @param {{message: string}|null} fit
   */
  showFit(fit) {
    this.ui.fit.textContent = fit?.message ?? '';
    this.ui.fit.hidden = !fit?.message;
  }

  /**
   * Segments the whole volume. With `fresh`, first asks for PCSW's prompts (coarse head),
   * replacing any edits; else propagates the prompts as they are (Re-run). SAM-2's masks are
   * shown slice by slice as they come (the previous ones until the first comes). On failure
   * the previous masks stay; after Stop (`stop`) the slices propagated keep their masks and
   * the others have none. Resolves to what happened, for tests.
   * @param {boolean} fresh
   * @returns {Promise<{ok: boolean, error?: string, ms?: number, stopped?: boolean, propagated?: number}>}
   */
  async segment(fresh) {
    const { host } = this;
    const { state } = host;
    if (!state.scan || !state.manifest) return { ok: false, error: 'no scan or no weights' };
    if (state.busy) return { ok: false, error: 'the model is busy' };
    if (!fresh && !state.prompts) return { ok: false, error: 'no prompts yet: segment first' };
    state.busy = true;
    this.runs += 1;
    const stopper = new AbortController();
    this.stopper = stopper;
    this.emit('syncButtons');
    const generation = host.generation();
    const started = performance.now();
    const [nx, ny, nz] = state.scan.dims;
    const plane = nx * ny;
    let promptsMs = 0;
    /**
     * This run's label map (made when its first slice comes), the slices it holds and
     * SAM-2's object scores and predicted IoUs (`state.objectScores`, made with the label map).
     */
    const run = {
      labels: /** @type {Uint8Array|null} */ (null),
      slices: /** @type {Set<number>} */ (new Set()),
      scores: /** @type {{classes: number[], scores: Float32Array, ious: Float32Array}|null} */ (null),
    };
    const before = { labels: state.labels, propagated: state.propagated };
    /** @param {VolumeUpdate} update */
    const takeSlice = (update) => {
      if (generation !== host.generation()) return;
      const { z, done, total } = update;
      const first = !run.labels;
      if (!run.labels) run.labels = new Uint8Array(plane * nz);
      if (!run.scores) {
        const cells = nz * update.classes.length;
        run.scores = {
          classes: update.classes,
          scores: new Float32Array(cells).fill(NaN),
          ious: new Float32Array(cells).fill(NaN),
        };
        state.objectScores = run.scores;
      }
      const { scores, ious } = run.scores;
      update.scores.forEach((s, i) => { scores[z * update.classes.length + i] = s; });
      update.ious.forEach((v, i) => { ious[z * update.classes.length + i] = v; });
      this.strip.forgetTip(); // the tooltip's numbers changed
      this.emit('draw'); // the score strip
      run.labels.set(update.labels, z * plane);
      run.slices.add(z);
      state.labels = run.labels;
      state.propagated = run.slices;
      const progress = state.propagation; // set before propagating
      if (progress) Object.assign(progress, { done, total, updates: progress.updates + 1 });
      this.showPropagation();
      if (first) {
        this.showMasks(); // the previous masks go: only this run's slices have SAM-2 masks
      } else if (state.view === 'sam2') {
        state.masks.set(z, run.labels.subarray(z * plane, (z + 1) * plane));
        if (z === state.z) this.emit('showMask');
      }
      window.dispatchEvent(new CustomEvent('sss-slice', { detail: update }));
    };
    /** @type {WorkerAnswer<'segmentVolume'>|null} */
    let reply = null;
    try {
      if (fresh) {
        const auto = await host.worker().request('autoPrompts');
        if (generation !== host.generation()) return { ok: false, error: 'the scan changed' };
        promptsMs = auto.ms;
        state.autoPrompts = auto.prompts;
        state.prompts = structuredClone(auto.prompts);
        this.history = { done: [], undone: [] }; // PCSW's prompts are the new starting point
        state.coarse = auto.coarse;
        this.show();
        // The coarse head's masks can be looked at while SAM-2 propagates.
        this.showMasks();
      }
      // The prompts in use (checked above), or PCSW's just now.
      const prompts = structuredClone(state.prompts ?? []);
      const propagating = performance.now();
      state.propagation = { done: 0, total: nz, updates: 0, running: true, stopping: stopper.signal.aborted };
      if (!stopper.signal.aborted) {
        this.emit('progress', 'propagating the prompts');
        try {
          reply = await host.worker().request('segmentVolume', { prompts }, [],
            { signal: stopper.signal, onUpdate: takeSlice });
        } catch (e) {
          if (!stopper.signal.aborted || !String(/** @type {Error} */ (e).message).includes(STOPPED)) throw e;
        }
      }
      if (generation !== host.generation()) return { ok: false, error: 'the scan changed' };
      const propagateMs = reply ? reply.ms : performance.now() - propagating;
      const ms = performance.now() - started;
      // The masks are this run's now: undo restores prompts, not the slices previews changed.
      for (const edit of [...this.history.done, ...this.history.undone]) delete edit.slice;
      if (reply) {
        state.labels = reply.labels;
        state.propagated = new Set(Array.from({ length: nz }, (_, z) => z));
      } else {
        state.labels = run.labels;
        state.propagated = run.slices;
      }
      const counts = classCounts(state.labels ?? [], state.manifest.classes.length);
      const propagated = state.propagated.size;
      // The fit check needs the whole volume: a stopped run has none.
      const fit = reply?.fit ?? null;
      state.lastVolume = { ms, promptsMs, propagateMs, slices: nz, propagated, stopped: !reply, counts,
        prompts, backend: state.backend, fit };
      this.showFit(fit);
      const parts = fresh ? `prompts ${(promptsMs / 1000).toFixed(1)} s, ` : '';
      host.timing.textContent = reply
        ? `volume (${nz} slices): ${(ms / 1000).toFixed(1)} s on ${state.backend} ` +
          `(${parts}propagation ${(propagateMs / 1000).toFixed(1)} s, ${(propagateMs / nz).toFixed(0)} ms/slice)`
        : `stopped after ${propagated} of ${nz} slices: ${(ms / 1000).toFixed(1)} s on ${state.backend} ` +
          `(${parts}propagation ${(propagateMs / 1000).toFixed(1)} s); Re-run propagates them all`;
      this.showMasks();
      return reply ? { ok: true, ms } : { ok: true, stopped: true, propagated, ms };
    } catch (e) {
      const message = /** @type {Error} */ (e).message;
      if (generation === host.generation()) {
        state.labels = before.labels;
        state.propagated = before.propagated;
        this.showMasks();
      }
      // Stop has nothing to stop while the model restarts.
      if (this.stopper === stopper) this.stopper = null;
      const recovery = await host.recoverOnCpu(message);
      if (recovery === 'restarted' && !stopper.signal.aborted) return await this.segment(fresh);
      if (recovery === null) this.emit('error', `Segmentation failed: ${message}`);
      return { ok: false, error: message };
    } finally {
      if (state.propagation) state.propagation.running = false;
      if (this.stopper === stopper) this.stopper = null;
      state.busy = false;
      this.emit('progress', null);
      this.emit('syncButtons');
      this.show();
      // A scan opened meanwhile gets its own turn.
      if (generation !== host.generation()) {
        this.auto.again = false;
        this.emit('autoSegment');
      } else if (this.auto.again) {
        // Stopped for an edit made while it ran: propagate the prompts as they are now.
        this.auto.again = false;
        this.propagateEdit();
      }
    }
  }

  /**
   * Stop (button, Esc, `api.stop()`): the running volume segmentation ends after the slice
   * SAM-2 is on (before propagating, if it has not started). Returns whether one was running.
   */
  stop() {
    const stopper = this.stopper;
    if (!stopper || stopper.signal.aborted) return false;
    stopper.abort();
    if (this.host.state.propagation) this.host.state.propagation.stopping = true;
    this.showPropagation();
    this.emit('syncButtons');
    return true;
  }

  /**
   * "Propagate each edit" on or off (the checkbox; `api.setAutoPropagate`). Off, a prompt edit
   * previews its slice and Re-run propagates; on, the propagation follows every edit.
   * @param {boolean} on
   */
  setAutoPropagate(on) {
    this.auto.on = on;
    this.ui.autoPropagate.checked = on;
  }

  /**
   * After a prompt edit (or its undo or redo), with "Propagate each edit" on: propagates the
   * prompts as they now are. A propagation running is stopped after its slice and this one
   * starts when it has ended; a preview still running is waited for by the worker's queue.
   */
  propagateEdit() {
    const { state } = this.host;
    if (!this.auto.on || state.kind !== 'sss' || !state.prompts || !state.scan) return;
    if (this.stopper) {
      this.auto.again = true;
      this.stop();
      return;
    }
    if (state.busy) {
      // A request that is not a propagation (PCSW's prompts, a restart): its own end shows the
      // masks; this edit propagates with the next one, or with Re-run.
      return;
    }
    this.auto.settled = this.segment(false).then(() => undefined);
  }

  /**
   * Resolves once no propagation that an edit started is running or waiting (for tests).
   * @returns {Promise<void>}
   */
  async settled() {
    for (;;) {
      const waiting = this.auto.settled;
      await waiting;
      if (waiting === this.auto.settled && !this.auto.again && !this.stopper) return;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** The progress note of the running propagation. */
  showPropagation() {
    const p = this.host.state.propagation;
    if (!p?.running) return;
    this.emit('progress', p.stopping
      ? `stopping after this slice: ${p.done}/${p.total} slices propagated`
      : `propagating: ${p.done}/${p.total} slices`);
  }

  // ---- which label map the overlay shows ----

  /**
   * Shows SAM-2's masks ('sam2') or the coarse head's ('coarse') on every slice; nothing is
   * run again. A label map not computed yet shows as no overlay until it is, and so do the
   * slices SAM-2 has not propagated yet (or did not, after Stop).
   * @param {MaskView} view
   */
  setView(view) {
    if (!MASK_VIEWS.includes(view)) throw new Error(`no mask view "${view}" (${MASK_VIEWS.join(' or ')})`);
    this.host.state.view = view;
    this.showMasks();
  }

  /** Key C: SAM-2's masks ⇄ the coarse head's (SSS weights only). */
  toggleView() {
    if (this.host.state.kind !== 'sss') return;
    this.setView(this.host.state.view === 'coarse' ? 'sam2' : 'coarse');
  }

  /**
   * Fills `state.masks` with the slices of the label map the view picks (SSS weights only; of
   * SAM-2's, those in `state.propagated`), hands the shown slice's to the renderer and redraws.
   */
  showMasks() {
    const { state } = this.host;
    this.syncView();
    if (state.kind !== 'sss' || !state.scan) return;
    const coarse = state.view === 'coarse';
    const map = /** @type {Uint8Array|null} */ (coarse ? state.coarse : state.labels);
    const [nx, ny, nz] = state.scan.dims;
    state.masks.clear();
    for (let z = 0; map && z < nz; z++) {
      if (coarse || state.propagated.has(z)) state.masks.set(z, map.subarray(z * nx * ny, (z + 1) * nx * ny));
    }
    this.emit('showMask');
  }

  /** The mask view's radio buttons and its note. */
  syncView() {
    const { state } = this.host;
    for (const radio of this.ui.views) radio.checked = radio.value === state.view;
    const fusion = state.manifest?.model?.label_fusion;
    const withCoarse = typeof fusion === 'object' ? fusion['with-coarse'] : undefined;
    let note = '';
    if (state.view === 'sam2' && state.busy && state.coarse) {
      note = 'SAM-2 is propagating; the coarse head\'s masks are ready (C).';
    } else if (state.view === 'coarse' && !state.coarse) {
      note = 'The coarse head\'s masks come with the next Segment.';
    } else if (state.view === 'sam2' && withCoarse) {
      const w = withCoarse.sam2_weight;
      note = `SAM-2's masks weighed ${w} against the coarse head's (${1 - w}), as these weights ` +
        'were chosen; a class whose prompt you set follows SAM-2 alone.';
    }
    const postProcess = state.view === 'sam2' ? state.manifest?.model?.post_process : undefined;
    if (postProcess === 'largest-component') {
      note += `${note ? ' ' : ''}When propagation ends, each class keeps its largest connected piece ` +
        '(stray blobs are removed).';
    } else if (postProcess === 'component-vote') {
      note += `${note ? ' ' : ''}When propagation ends, each connected finding takes the class ` +
        'most of it was drawn as (one lesion, one type).';
    }
    this.ui.viewNote.textContent = note;
  }

  // ---- the prompts panel ----

  /** The prompts panel, one row per foreground class of the weights (SSS weights only). */
  show() {
    const { host, ui } = this;
    const { state } = host;
    ui.section.hidden = state.kind !== 'sss';
    if (state.kind !== 'sss' || !state.manifest) return;
    const rows = state.manifest.classes.filter((c) => c.label > 0).map((c) => {
      const p = state.prompts?.find((q) => q.class === c.label);
      const li = document.createElement('li');
      li.dataset.class = String(c.label);
      li.classList.toggle('selected', state.selectedClass === c.label);
      const pick = document.createElement('button');
      pick.className = 'pick';
      pick.title = 'draw a new box for this class on the shown slice';
      pick.setAttribute('aria-pressed', String(state.selectedClass === c.label));
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = `rgb(${c.color.join(',')})`;
      pick.append(swatch, c.name);
      pick.addEventListener('click', () => this.selectClass(state.selectedClass === c.label ? null : c.label));
      const go = document.createElement('button');
      go.className = 'goto';
      go.title = 'show the slice this prompt is on';
      go.textContent = isActive(p) ? `slice ${p.prompt.slice + 1}` : '—';
      go.disabled = !isActive(p);
      go.addEventListener('click', () => { if (p) this.emit('goToSlice', p.prompt.slice); });
      const source = document.createElement('span');
      source.className = 'source';
      source.textContent = !state.prompts ? '' : p ? sourceText(p.prompt.source) : 'removed';
      const remove = document.createElement('button');
      remove.className = 'remove';
      remove.title = 'remove this prompt: the class is not segmented';
      remove.textContent = '×';
      remove.disabled = !p;
      remove.addEventListener('click', () => this.removePrompt(c.label));
      li.append(pick, go, remove, source);
      return li;
    });
    ui.prompts.replaceChildren(...rows);
    const name = state.manifest.classes.find((c) => c.label === state.selectedClass)?.name;
    const tool = this.tool;
    ui.hint.textContent = !name
      ? 'Pick a class, then drag a box or click on the image to correct its prompt; Re-run propagates.'
      : tool === 'prompt'
        ? `Correcting ${name}: drag a box on this slice · click: include a point, Shift+click: ` +
          'leave it out (on its prompt\'s slice) · Alt+click: move its point · Esc: stop'
        : `${tool === 'brush' ? 'Painting' : 'Erasing'} ${name} on this slice: drag over the image ` +
          '(a Re-run replaces the strokes with SAM-2\'s masks) · Esc: stop';
    host.stage.classList.toggle('drawing', state.selectedClass !== null);
    this.emit('syncButtons');
  }

  /**
   * Enables Re-run and Reset prompts where they can act; Re-run stands out once the prompts
   * differ from those of the last result, or it was stopped. Stop is shown while a volume
   * segmentation runs. Called by the page's `syncButtons`.
   * @param {boolean} ready a scan and weights are loaded and the model is idle
   */
  syncButtons(ready) {
    const { state } = this.host;
    this.ui.rerun.disabled = !ready || !state.prompts;
    this.ui.resetPrompts.disabled = !ready || !state.autoPrompts;
    this.ui.saveLabels.disabled = !ready || !state.labels;
    this.ui.savePrompts.disabled = !state.prompts;
    this.ui.undo.disabled = state.busy || !this.history.done.length;
    this.ui.redo.disabled = state.busy || !this.history.undone.length;
    const edited = !!state.prompts && JSON.stringify(state.prompts) !== JSON.stringify(state.lastVolume?.prompts);
    this.ui.rerun.classList.toggle('pending', edited || !!state.lastVolume?.stopped);
    this.ui.stop.hidden = !this.stopper;
    this.ui.stop.disabled = !!this.stopper?.signal.aborted;
    this.syncView();
  }

  // ---- taking the work home ----

  /**
   * Saves the label map as `<scan>_labels.nii.gz`, written by the worker into the opened
   * file's own header (its exact geometry), and resolves to the file's name and size.
   * @returns {Promise<{name: string, bytes: number}|null>}
   */
  async saveLabels() {
    const { state } = this.host;
    if (!state.labels || !state.scan) return null;
    try {
      const reply = await this.host.worker().request('exportLabels', { labels: state.labels.slice() });
      const { bytes } = reply;
      const name = `${scanStem(state.scan.name)}_labels.nii.gz`;
      download(new Blob([bytes], { type: 'application/gzip' }), name);
      return { name, bytes: bytes.length };
    } catch (e) {
      this.emit('error', `The labels could not be saved: ${/** @type {Error} */ (e).message}`);
      return null;
    }
  }

  /**
   * Saves the prompts as `<scan>_prompts.json`, the file `sss segment` writes and its
   * `--use-prompts` reads, so work begun here can be finished natively.
   * @returns {{name: string, text: string}|null}
   */
  savePrompts() {
    const { state } = this.host;
    if (!state.prompts || !state.scan || !state.manifest) return null;
    const file = {
      scan: state.scan.name,
      prompts: state.prompts,
      class_names: state.manifest.classes.map((c) => c.name),
    };
    const text = JSON.stringify(file, null, 2);
    const name = `${scanStem(state.scan.name)}_prompts.json`;
    download(new Blob([text], { type: 'application/json' }), name);
    return { name, text };
  }

  /**
   * Picks what a drag does with a class picked (also keys P, B, E).
   * @param {Tool} tool
   */
  setTool(tool) {
    if (!TOOLS.includes(tool)) throw new Error(`no tool "${tool}" (${TOOLS.join(', ')})`);
    this.tool = tool;
    for (const radio of this.ui.tools) radio.checked = radio.value === tool;
    this.show();
  }

  /** @param {number|null} label the class a drag draws, or null to pan again */
  selectClass(label) {
    this.host.state.selectedClass = label;
    this.show();
    this.emit('draw');
  }

  // ---- editing prompts ----

  /**
   * Replaces the prompts in use (they are sent as they are at the next Re-run).
   * @param {ClassPrompt[]} prompts
   */
  setPrompts(prompts) {
    this.host.state.prompts = structuredClone(prompts);
    this.show();
    this.emit('draw');
  }

  /**
   * A person's edit of the prompts: recorded for Undo, then, with `previewZ`, that slice's
   * masks are shown at once from SAM-2 (`previewSlice`).
   * @param {ClassPrompt[]} prompts
   * @param {number} [previewZ]
   */
  edit(prompts, previewZ) {
    const { state } = this.host;
    const edit = /** @type {Edit} */ ({
      before: state.prompts ? structuredClone(state.prompts) : null,
      after: structuredClone(prompts),
    });
    this.history.done.push(edit);
    if (this.history.done.length > UNDO_DEPTH) this.history.done.shift();
    this.history.undone = [];
    this.setPrompts(prompts);
    if (previewZ === undefined) {
      this.propagateEdit();
    } else {
      // The slice first, at once; then, if the user asks for it, the slices that follow.
      this.previewSlice(previewZ, edit).then(() => {
        if (this.history.done.at(-1) === edit) this.propagateEdit();
      });
    }
  }

  /**
   * Sets (or adds) one class's prompt, an undoable edit; with `previewZ`, previews that slice.
   * @param {ClassPrompt} prompt
   * @param {number} [previewZ]
   */
  putPrompt(prompt, previewZ) {
    const others = (this.host.state.prompts ?? []).filter((p) => p.class !== prompt.class);
    this.edit([...others, prompt].sort((a, b) => a.class - b.class), previewZ);
  }

  /** @param {number} label */
  removePrompt(label) {
    this.edit((this.host.state.prompts ?? []).filter((p) => p.class !== label));
  }

  /**
   * Adds a correction click to class `label`'s prompt, which must be on the shown slice: the
   * object includes the pixel (`positive`) or leaves it out. Resolves once the slice's new
   * masks are shown (false when the click was refused or could not be previewed).
   * @param {number} label
   * @param {{x: number, y: number}} pixel slice pixel
   * @param {boolean} positive
   * @returns {Promise<boolean>}
   */
  async addClick(label, pixel, positive) {
    const { state } = this.host;
    if (!state.scan) return false;
    const [nx, ny] = state.scan.dims;
    const p = state.prompts?.find((q) => q.class === label);
    if (!p || !isActive(p) || p.prompt.slice !== state.z) {
      this.ui.hint.textContent = p && isActive(p)
        ? `Clicks correct a prompt on its own slice (slice ${p.prompt.slice + 1}): go there, or drag a box here to move it.`
        : 'This class has no prompt to correct: drag a box for it first.';
      return false;
    }
    const clicks = p.clicks ?? [];
    if (clicks.length >= MAX_CLICKS) {
      this.ui.hint.textContent = `A prompt takes at most ${MAX_CLICKS} clicks: drag a new box to start again.`;
      return false;
    }
    const point = [Math.min(Math.max(Math.floor(pixel.x), 0), nx - 1), Math.min(Math.max(Math.floor(pixel.y), 0), ny - 1)];
    this.putPrompt({ ...structuredClone(p), prompt: { ...p.prompt, source: USER }, clicks: [...clicks, { point, positive }] }, state.z);
    return this.previewSlice(state.z, /** @type {Edit} */ (this.history.done.at(-1)));
  }

  /**
   * Shows slice `z`'s masks from SAM-2's image predictor for the prompts on it (the worker
   * keeps the slice's embedding, so a second correction there runs only the prompt encoder
   * and mask decoder): the classes prompted on `z` are replaced on that slice, the others
   * stay. Recorded in `edit` for Undo; dropped when another edit, a segmentation or another
   * scan came first. While a segmentation runs, nothing is previewed (Re-run shows it).
   * @param {number} z
   * @param {Edit} edit
   * @returns {Promise<boolean>} whether the masks were shown
   */
  previewSlice(z, edit) {
    const asked = this.pending.get(edit);
    if (asked) return asked;
    const run = this.runPreview(z, edit).finally(() => this.pending.delete(edit));
    this.pending.set(edit, run);
    return run;
  }

  /**
   * @param {number} z
   * @param {Edit} edit
   * @returns {Promise<boolean>}
   */
  async runPreview(z, edit) {
    const { host } = this;
    const { state } = host;
    if (state.busy || state.kind !== 'sss' || !state.scan) return false;
    const generation = host.generation();
    const runs = this.runs;
    const prompts = structuredClone(state.prompts ?? []);
    let reply;
    try {
      reply = await host.worker().request('previewSlice', { z, prompts });
    } catch (e) {
      this.emit('error', `The correction could not be previewed: ${/** @type {Error} */ (e).message}`);
      return false;
    }
    if (generation !== host.generation() || runs !== this.runs || state.busy || this.history.done.at(-1) !== edit) return false;
    const [nx, ny, nz] = state.scan.dims;
    const plane = nx * ny;
    if (!state.labels) state.labels = new Uint8Array(plane * nz);
    const labels = /** @type {Uint8Array} */ (state.labels);
    const before = labels.slice(z * plane, (z + 1) * plane);
    const onSlice = new Set(prompts.filter((p) => isActive(p) && p.prompt.slice === z).map((p) => p.class));
    const preview = /** @type {Uint8Array} */ (reply.labels);
    const after = before.map((l, i) => preview[i] || (onSlice.has(l) ? 0 : l));
    labels.set(after, z * plane);
    state.propagated.add(z);
    edit.slice = { z, before, after };
    state.lastPreview = { z, encoded: reply.encoded, ms: reply.ms, classes: [...onSlice] };
    host.timing.textContent = `slice ${z + 1} corrected in ${reply.ms.toFixed(0)} ms ` +
      (reply.encoded ? '(image encoder, prompt encoder and mask decoder)' : '(prompt encoder and mask decoder only)') +
      (this.auto.on ? '; propagating it' : '; Re-run propagates it');
    this.showMasks();
    this.emit('syncButtons');
    return true;
  }

  /** Undoes the last edit: a prompt's (and the slice masks its preview changed), or a stroke. */
  undo() {
    const edit = this.host.state.busy ? undefined : this.history.done.pop();
    if (!edit) return false;
    this.history.undone.push(edit);
    this.restore(edit.before, edit.slice && { z: edit.slice.z, labels: edit.slice.before });
    if (!edit.stroke) this.propagateEdit();
    return true;
  }

  /** Redoes the last edit undone. */
  redo() {
    const edit = this.host.state.busy ? undefined : this.history.undone.pop();
    if (!edit) return false;
    this.history.done.push(edit);
    this.restore(edit.after, edit.slice && { z: edit.slice.z, labels: edit.slice.after });
    if (!edit.stroke) this.propagateEdit();
    return true;
  }

  /**
   * Puts back prompts and, where given, one slice's label map.
   * @param {ClassPrompt[]|null} prompts
   * @param {{z: number, labels: Uint8Array}|undefined} slice
   */
  restore(prompts, slice) {
    const { state } = this.host;
    state.prompts = prompts ? structuredClone(prompts) : null;
    if (slice && state.labels) {
      const plane = slice.labels.length;
      state.labels.set(slice.labels, slice.z * plane);
    }
    this.show();
    this.showMasks();
  }

  /**
   * A pointer went down on the image while class `label` is selected: a drag draws a new box
   * for it on the shown slice (its point is the box's centre); a click adds a correction click
   * (Shift: leave the point out); Alt+click moves the point of the class's prompt on this
   * slice. Each previews the slice.
   * @param {PointerEvent} e
   * @param {number} label
   */
  startDrawing(e, label) {
    if (this.tool !== 'prompt') {
      this.startPainting(e, label, this.tool === 'eraser');
      return;
    }
    const { host } = this;
    const { state, stage } = host;
    if (!state.scan) return;
    const [nx, ny] = state.scan.dims;
    const z = state.z;
    stage.setPointerCapture(e.pointerId);
    stage.focus();
    const start = host.slicePixel(e);
    if (e.altKey) {
      const p = state.prompts?.find((q) => q.class === label);
      if (!p || !isActive(p) || p.prompt.slice !== z) {
        this.emit('error', 'Alt+click moves the point of a prompt on the shown slice: draw a box here first.');
        return;
      }
      const x = Math.min(Math.max(Math.floor(start.x), 0), nx - 1);
      const y = Math.min(Math.max(Math.floor(start.y), 0), ny - 1);
      this.putPrompt({ ...structuredClone(p), prompt: { ...p.prompt, point: [x, y], source: USER } }, z);
      return;
    }
    const startScreen = { x: e.clientX, y: e.clientY };
    let dragged = false;
    const move = (/** @type {PointerEvent} */ m) => {
      dragged = dragged || Math.hypot(m.clientX - startScreen.x, m.clientY - startScreen.y) > 3;
      if (dragged) { this.preview = userBox(label, z, start, host.slicePixel(m), nx, ny); this.emit('draw'); }
    };
    const up = (/** @type {PointerEvent} */ u) => {
      stage.removeEventListener('pointermove', move);
      stage.removeEventListener('pointerup', up);
      this.preview = null;
      if (z !== state.z) this.emit('draw');
      else if (dragged) this.putPrompt(userBox(label, z, start, host.slicePixel(u), nx, ny), z);
      else this.addClick(label, start, !u.shiftKey);
    };
    stage.addEventListener('pointermove', move);
    stage.addEventListener('pointerup', up);
  }

  /**
   * A brush (or eraser) stroke with the pointer: discs of the brush radius along its path set
   * the shown slice's pixels to class `label` (the eraser sets that class's pixels to
   * background, leaving other classes). Shown as it is painted; one undoable edit per stroke.
   * Not while a segmentation runs.
   * @param {PointerEvent} e
   * @param {number} label
   * @param {boolean} erase
   */
  startPainting(e, label, erase) {
    const { host } = this;
    const { state, stage } = host;
    if (state.busy) {
      this.ui.hint.textContent = 'Wait for the segmentation to end before painting.';
      return;
    }
    if (!state.scan) return;
    const [nx, ny, nz] = state.scan.dims;
    const plane = nx * ny;
    const z = state.z;
    if (state.view !== 'sam2') this.setView('sam2');
    if (!state.labels) state.labels = new Uint8Array(plane * nz);
    const labels = /** @type {Uint8Array} */ (state.labels);
    const slice = labels.subarray(z * plane, (z + 1) * plane);
    const before = slice.slice();
    const radius = Number(this.ui.brushSize.value);
    /** @param {{x: number, y: number}} p */
    const dab = (p) => {
      const [cx, cy] = [Math.floor(p.x), Math.floor(p.y)];
      for (let y = Math.max(cy - radius, 0); y <= Math.min(cy + radius, ny - 1); y++) {
        for (let x = Math.max(cx - radius, 0); x <= Math.min(cx + radius, nx - 1); x++) {
          if ((x - cx) ** 2 + (y - cy) ** 2 > radius * radius) continue;
          const i = y * nx + x;
          if (!erase) slice[i] = label;
          else if (slice[i] === label) slice[i] = 0;
        }
      }
    };
    /** @param {{x: number, y: number}} a @param {{x: number, y: number}} b */
    const line = (a, b) => {
      const steps = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y)));
      for (let t = 0; t <= steps; t++) dab({ x: a.x + ((b.x - a.x) * t) / steps, y: a.y + ((b.y - a.y) * t) / steps });
    };
    const show = () => {
      state.propagated.add(z);
      state.masks.set(z, slice);
      if (z === state.z) this.emit('showMask'); // the shown slice's entry is `slice`
      else this.emit('draw');
    };
    stage.setPointerCapture(e.pointerId);
    stage.focus();
    let last = host.slicePixel(e);
    dab(last);
    show();
    const move = (/** @type {PointerEvent} */ m) => {
      const p = host.slicePixel(m);
      line(last, p);
      last = p;
      show();
    };
    const up = () => {
      stage.removeEventListener('pointermove', move);
      stage.removeEventListener('pointerup', up);
      const after = slice.slice();
      if (after.every((l, i) => l === before[i])) return;
      const prompts = state.prompts ? structuredClone(state.prompts) : null;
      this.history.done.push({ before: prompts, after: structuredClone(prompts), stroke: true, slice: { z, before, after } });
      if (this.history.done.length > UNDO_DEPTH) this.history.done.shift();
      this.history.undone = [];
      state.lastPaint = { z, label, erase, radius };
      this.emit('syncButtons');
    };
    stage.addEventListener('pointermove', move);
    stage.addEventListener('pointerup', up);
  }

  /**
   * Draws the prompt layer for the frame the renderer just drew: the prompts of the shown
   * slice, the selected class highlighted, the box being dragged dashed.
   * @param {{width: number, height: number, view: ViewTransform, colors: number[][]}} frame
   */
  drawPrompts({ width, height, view, colors }) {
    const { state } = this.host;
    this.layer.draw({
      width, height, view, colors, z: state.z, prompts: state.prompts ?? [],
      selected: state.selectedClass, preview: this.preview,
    });
    this.strip.draw(colors);
  }
}
