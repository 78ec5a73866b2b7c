// The score strip under the slice slider: per tracked class (rows) and slice (columns), SAM-2's
// object score and the mask decoder's predicted IoU from the last propagation, so that drift in
// propagation is visible and a click on it goes to the slice to fix. sss-panel.js owns one,
// fills `state.objectScores` as slices come and draws the strip with every frame.

/** SAM-2's score strip on its canvas, with its tooltip and click-to-slice. */
export class ScoreStrip {
  /**
   * @param {HTMLCanvasElement} canvas the strip (its `title` says what it shows)
   * @param {import('./main.js').PageState} state the page: `scan`, `kind`, `z`, `manifest`
   *   and `objectScores`, read when drawn
   * @param {(z: number) => void} goToSlice called with the slice clicked
   */
  constructor(canvas, state, goToSlice) {
    this.canvas = canvas;
    this.state = state;
    /** The strip's own title (what it shows), kept for the tooltip's last lines. */
    this.help = canvas.title;
    /** The slice the tooltip describes (-1: none). */
    this.tipSlice = -1;
    canvas.addEventListener('click', (e) => {
      const z = this.sliceAt(e);
      if (z !== null) goToSlice(z);
    });
    canvas.addEventListener('mousemove', (e) => {
      const z = this.sliceAt(e);
      if (z === null || z === this.tipSlice) return;
      this.tipSlice = z;
      canvas.title = `${this.tip(z)}\n${this.help}`;
    });
    canvas.addEventListener('mouseleave', () => this.forgetTip());
  }

  /** The scores changed (or are gone): the tooltip is rewritten when the pointer next moves. */
  forgetTip() {
    this.tipSlice = -1;
    this.canvas.title = this.help;
  }

  /**
   * The slice under a pointer on the strip, or null (no scan or no scores).
   * @param {MouseEvent} e
   * @returns {number|null}
   */
  sliceAt(e) {
    const state = this.state;
    if (!state.scan || !state.objectScores) return null;
    const rect = this.canvas.getBoundingClientRect();
    const nz = state.scan.dims[2];
    return Math.min(nz - 1, Math.max(0, Math.floor(((e.clientX - rect.left) / rect.width) * nz)));
  }

  /**
   * The tooltip for slice `z`: each tracked class's object score and predicted IoU
   * there, e.g. "slice 5: LV score 3.2, IoU 0.91; RV score -1.4, IoU 0.35" ("not propagated"
   * where none came).
   * @param {number} z
   * @returns {string}
   */
  tip(z) {
    const state = this.state;
    const o = state.objectScores;
    if (!o) return '';
    const k = o.classes.length;
    const parts = o.classes.map((c, i) => {
      const name = state.manifest?.classes.find((m) => m.label === c)?.name ?? `class ${c}`;
      const [s, iou] = [o.scores[z * k + i], o.ious[z * k + i]];
      return Number.isNaN(s) ? `${name} not propagated` : `${name} score ${s.toFixed(1)}, IoU ${iou.toFixed(2)}`;
    });
    return `slice ${z}: ${parts.join('; ')}`;
  }

  /**
   * The strip under the slice slider: one row per tracked class (7 CSS px), one column per
   * slice, from the last propagation. Each cell's top 4 px show SAM-2's object score (the
   * class colour, the brighter the surer the object is there; dark red where SAM-2 found none);
   * the 2 px band under it shows the mask decoder's predicted IoU of the mask chosen as a grey
   * level, from dark grey (IoU 0) to white (IoU 1). Dark where nothing came; the shown slice
   * outlined. Drift in propagation shows as a row going dark or its band going grey; a click
   * goes to that slice; the tooltip gives the numbers of the slice under the pointer.
   * @param {number[][]} colors
   */
  draw(colors) {
    const state = this.state;
    const strip = this.canvas;
    const scores = state.objectScores;
    strip.hidden = state.kind !== 'sss' || !scores || !state.scan;
    if (strip.hidden || !scores || !state.scan) return;
    const nz = state.scan.dims[2];
    const k = scores.classes.length;
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(strip.clientWidth * dpr));
    const row = Math.round(7 * dpr);
    // Per row: the score band, the IoU band, a 1 px gap.
    const scoreBand = Math.round(4 * dpr);
    const iouBand = row - 1 - scoreBand;
    if (strip.width !== width || strip.height !== row * k) {
      strip.width = width;
      strip.height = row * k;
      strip.style.height = `${(row * k) / dpr}px`;
    }
    const ctx = /** @type {CanvasRenderingContext2D} */ (strip.getContext('2d'));
    ctx.fillStyle = '#111';
    ctx.fillRect(0, 0, strip.width, strip.height);
    const column = strip.width / nz;
    const cellWidth = Math.max(1, Math.ceil(column) - 1);
    for (let z = 0; z < nz; z++) {
      for (let i = 0; i < k; i++) {
        const s = scores.scores[z * k + i];
        if (Number.isNaN(s)) continue;
        const x = Math.floor(z * column);
        const rgb = colors[scores.classes[i]] ?? [255, 255, 0];
        ctx.fillStyle = s > 0
          ? `rgba(${rgb.join(',')}, ${(0.25 + 0.75 / (1 + Math.exp(-s))).toFixed(3)})`
          : 'rgb(110, 20, 20)';
        ctx.fillRect(x, i * row, cellWidth, scoreBand);
        const iou = scores.ious[z * k + i];
        if (Number.isNaN(iou)) continue;
        const grey = Math.round(40 + 215 * Math.min(1, Math.max(0, iou)));
        ctx.fillStyle = `rgb(${grey}, ${grey}, ${grey})`;
        ctx.fillRect(x, i * row + scoreBand, cellWidth, iouBand);
      }
    }
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = Math.max(1, dpr);
    ctx.strokeRect(Math.floor(state.z * column) + 0.5, 0.5, Math.max(1, Math.ceil(column) - 1), strip.height - 1);
  }
}
