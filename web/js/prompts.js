// SSS prompts on the page: what a prompt's source means in words, and the prompt layer, a 2-D
// canvas over the slice renderer's canvas (WebGPU or 2-D alike) that draws each class's box and
// point on the slice the prompt lives on, with the renderer's zoom, pan and display orientation.

import { toCanvas } from './orientation.js';

/**
 * One class's prompt and a correction click on it: see protocol.js.
 * @typedef {import('./protocol.js').ClassPrompt} ClassPrompt
 * @typedef {import('./protocol.js').Click} Click
 */
/** @typedef {import('./orientation.js').ViewTransform} ViewTransform */

/** The source the page gives prompts a person drew (serde's snake_case name of `User`). */
export const USER = /** @type {const} */ ('user');

/**
 * The kind of a prompt's source: 'window', 'fallback', 'component', 'empty', 'user' (serde's
 * externally tagged enum, snake_case: {"window": {n, start}}, "fallback", "component", "empty",
 * "user"; other cases are read too).
 * @param {unknown} source
 * @returns {string}
 */
export function sourceKind(source) {
  if (typeof source === 'string') return source.toLowerCase();
  if (source && typeof source === 'object') return (Object.keys(source)[0] ?? '').toLowerCase();
  return '';
}

/**
 * The prompt's source in words, for the prompts panel.
 * @param {unknown} source
 * @returns {string}
 */
export function sourceText(source) {
  const kind = sourceKind(source);
  if (kind === 'user') return 'edited';
  if (kind === 'fallback') return 'auto (fallback: largest area)';
  if (kind === 'component') return 'auto (middle of the largest 3-D component)';
  if (kind === 'empty') return 'not found';
  if (kind === 'window') {
    // sourceKind found an object whose one key names the window.
    const { n, start } = Object.values(/** @type {Record<string, {n: number, start: number}>} */ (source))[0];
    return `auto (window of ${n} from slice ${start + 1})`;
  }
  return JSON.stringify(source);
}

/**
 * Whether `p` is a prompt that will be segmented (present and not "empty").
 * @param {ClassPrompt|undefined} p
 * @returns {p is ClassPrompt}
 */
export function isActive(p) {
  return !!p && sourceKind(p.prompt.source) !== 'empty';
}

/**
 * A box prompt for `label` from two corner pixels (any order), clamped into the slice; the
 * point is the box's centre; the source is "user".
 * @param {number} label
 * @param {number} z slice
 * @param {{x: number, y: number}} a
 * @param {{x: number, y: number}} b
 * @param {number} nx
 * @param {number} ny
 * @returns {ClassPrompt}
 */
export function userBox(label, z, a, b, nx, ny) {
  const cx = (/** @type {number} */ v) => Math.min(Math.max(Math.floor(v), 0), nx - 1);
  const cy = (/** @type {number} */ v) => Math.min(Math.max(Math.floor(v), 0), ny - 1);
  const [x0, x1] = [cx(a.x), cx(b.x)].sort((p, q) => p - q);
  const [y0, y1] = [cy(a.y), cy(b.y)].sort((p, q) => p - q);
  return {
    class: label,
    prompt: { slice: z, box_xyxy: [x0, y0, x1, y1], point: [(x0 + x1) / 2, (y0 + y1) / 2], source: USER },
  };
}

/** Draws prompts over the slice renderer's canvas. */
export class PromptLayer {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    this.context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
  }

  /**
   * Redraws the layer: the prompts of slice `z`, the class being drawn highlighted, and the
   * box being dragged (dashed), all with the renderer's view transform (device pixels).
   * @param {{width: number, height: number, view: ViewTransform, z: number,
   *   prompts: ClassPrompt[], colors: number[][], selected: number|null,
   *   preview: ClassPrompt|null}} frame
   */
  draw({ width, height, view, z, prompts, colors, selected, preview }) {
    const { canvas, context: ctx } = this;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const dpr = window.devicePixelRatio || 1;
    const shown = prompts.filter((p) => isActive(p) && p.prompt.slice === z && p.class !== preview?.class);
    if (preview) shown.push(preview);
    for (const p of shown) {
      const [x0, y0, x1, y1] = p.prompt.box_xyxy;
      const [px, py] = p.prompt.point;
      const rgb = colors[p.class] ?? [255, 255, 0];
      const colour = `rgb(${rgb.join(',')})`;
      // The box's outer corners on the canvas (flipped or transposed, they change places).
      const a = toCanvas(view, x0, y0);
      const b = toCanvas(view, x1 + 1, y1 + 1);
      const left = Math.min(a.x, b.x);
      const top = Math.min(a.y, b.y);
      const w = Math.abs(b.x - a.x);
      const h = Math.abs(b.y - a.y);
      ctx.lineWidth = (p.class === selected ? 3 : 2) * dpr;
      ctx.setLineDash(p === preview ? [6 * dpr, 4 * dpr] : []);
      ctx.strokeStyle = '#000a';
      ctx.strokeRect(left - dpr, top - dpr, w + 2 * dpr, h + 2 * dpr);
      ctx.strokeStyle = colour;
      ctx.strokeRect(left, top, w, h);
      ctx.setLineDash([]);
      ctx.beginPath();
      const centre = toCanvas(view, px + 0.5, py + 0.5);
      ctx.arc(centre.x, centre.y, 4 * dpr, 0, 2 * Math.PI);
      ctx.fillStyle = colour;
      ctx.fill();
      ctx.lineWidth = 1.5 * dpr;
      ctx.strokeStyle = '#000';
      ctx.stroke();
      for (const click of p.clicks ?? []) drawClick(ctx, view, click, dpr);
    }
  }
}

/** Colours of correction clicks: the object includes the point, or leaves it out. */
export const CLICK_COLOURS = { positive: 'rgb(60, 220, 90)', negative: 'rgb(240, 60, 60)' };

/**
 * A correction click: a disc (green include, red leave out) with a + or −.
 * @param {CanvasRenderingContext2D} ctx
 * @param {ViewTransform} view
 * @param {Click} click
 * @param {number} dpr
 */
function drawClick(ctx, view, click, dpr) {
  const { x, y } = toCanvas(view, click.point[0] + 0.5, click.point[1] + 0.5);
  const r = 5 * dpr;
  ctx.beginPath();
  ctx.arc(x, y, r, 0, 2 * Math.PI);
  ctx.fillStyle = click.positive ? CLICK_COLOURS.positive : CLICK_COLOURS.negative;
  ctx.fill();
  ctx.lineWidth = 1.5 * dpr;
  ctx.strokeStyle = '#000';
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(x - r * 0.6, y);
  ctx.lineTo(x + r * 0.6, y);
  if (click.positive) {
    ctx.moveTo(x, y - r * 0.6);
    ctx.lineTo(x, y + r * 0.6);
  }
  ctx.strokeStyle = '#fff';
  ctx.stroke();
}
