// Unit tests of web/js/prompts.js in Node (no browser): what a prompt's source says, which
// prompts are segmented, a box drawn from two corners, and what the prompt layer draws.

import assert from 'node:assert/strict';
import test from 'node:test';

import { PromptLayer, USER, isActive, sourceKind, sourceText, userBox } from '../../web/js/prompts.js';

/** @typedef {import('../../web/js/protocol.js').ClassPrompt} ClassPrompt */

/**
 * A prompt of class `label` on slice `slice` with the given source (any value: the page reads
 * sources leniently).
 * @param {number} label
 * @param {number} slice
 * @param {unknown} source
 * @returns {ClassPrompt}
 */
function prompt(label, slice, source) {
  const read = /** @type {import('../../web/js/protocol.js').PromptSource} */ (source);
  return { class: label, prompt: { slice, box_xyxy: [2, 3, 5, 7], point: [3, 5], source: read } };
}

test('sourceKind reads serde\'s externally tagged enum, any case', () => {
  assert.equal(sourceKind('fallback'), 'fallback');
  assert.equal(sourceKind('User'), 'user');
  assert.equal(sourceKind({ window: { n: 3, start: 4 } }), 'window');
  assert.equal(sourceKind({ Window: { n: 3, start: 4 } }), 'window');
  assert.equal(sourceKind({}), '');
  assert.equal(sourceKind(null), '');
  assert.equal(sourceKind(7), '');
});

test('sourceText says where each prompt came from', () => {
  assert.equal(sourceText(USER), 'edited');
  assert.equal(sourceText('fallback'), 'auto (fallback: largest area)');
  assert.equal(sourceText('component'), 'auto (middle of the largest 3-D component)');
  assert.equal(sourceText('empty'), 'not found');
  // Slices are counted from 1 on the page, from 0 in the wasm API.
  assert.equal(sourceText({ window: { n: 3, start: 4 } }), 'auto (window of 3 from slice 5)');
  assert.equal(sourceText({ other: 1 }), '{"other":1}');
});

test('isActive: a prompt that is there and not "empty"', () => {
  assert.equal(isActive(undefined), false);
  assert.equal(isActive(prompt(1, 0, 'empty')), false);
  assert.equal(isActive(prompt(1, 0, 'Empty')), false);
  assert.equal(isActive(prompt(1, 0, 'fallback')), true);
  assert.equal(isActive(prompt(1, 0, { window: { n: 2, start: 0 } })), true);
});

test('userBox: corners in any order, whole pixels, clamped into the slice', () => {
  const a = userBox(2, 9, { x: 7.8, y: 1.2 }, { x: 3.1, y: 5.9 }, 10, 8);
  assert.deepEqual(a, {
    class: 2,
    prompt: { slice: 9, box_xyxy: [3, 1, 7, 5], point: [5, 3], source: USER },
  });
  // Dragged past the edges: the box ends on the slice's first and last pixels.
  const b = userBox(1, 0, { x: -4, y: 20 }, { x: 30, y: -1 }, 10, 8);
  assert.deepEqual(b.prompt.box_xyxy, [0, 0, 9, 7]);
  assert.deepEqual(b.prompt.point, [4.5, 3.5]);
});

/** A 2-D context that records the boxes stroked and the dash pattern each was stroked with. */
class FakeContext {
  constructor() {
    /** @type {{rect: number[], dash: number[], style: string}[]} */
    this.rects = [];
    /** @type {number[]} */
    this.dash = [];
    this.strokeStyle = '';
    this.fillStyle = '';
    this.lineWidth = 1;
    this.arcs = 0;
  }

  setTransform() {}
  clearRect() {}
  beginPath() {}
  fill() {}
  stroke() {}
  moveTo() {}
  lineTo() {}
  arc() { this.arcs += 1; }
  /** @param {number[]} dash */
  setLineDash(dash) { this.dash = dash; }
  /** @param {number[]} rect */
  strokeRect(...rect) { this.rects.push({ rect, dash: this.dash, style: this.strokeStyle }); }
}

test('PromptLayer draws the active prompts of the shown slice, the dragged box dashed', () => {
  Object.assign(globalThis, { window: { devicePixelRatio: 1 } });
  const context = new FakeContext();
  const canvas = { width: 0, height: 0, getContext: () => context };
  const layer = new PromptLayer(/** @type {HTMLCanvasElement} */ (/** @type {unknown} */ (canvas)));
  const preview = userBox(3, 4, { x: 0, y: 0 }, { x: 1, y: 1 }, 10, 10);
  layer.draw({
    width: 40, height: 30, view: { offsetX: 10, offsetY: 20, scale: 2 }, z: 4,
    prompts: [
      prompt(1, 4, 'fallback'), // shown
      prompt(2, 5, 'fallback'), // another slice
      prompt(4, 4, 'empty'), // not segmented
      prompt(3, 4, 'fallback'), // replaced by the box being dragged
    ],
    colors: [[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
    selected: 1,
    preview,
  });
  assert.equal(canvas.width, 40, 'the layer takes the frame\'s size');
  assert.equal(canvas.height, 30);
  // Each prompt: a dark outline, then its colour.
  const coloured = context.rects.filter((r) => r.style !== '#000a');
  assert.deepEqual(coloured.map((r) => r.style), ['rgb(255,0,0)', 'rgb(0,0,255)']);
  // Box [2, 3, 5, 7] at scale 2 from (10, 20): 4 pixels wide, 5 high, inclusive.
  assert.deepEqual(coloured[0].rect, [10 + 2 * 2, 20 + 3 * 2, 4 * 2, 5 * 2]);
  assert.deepEqual(coloured[0].dash, [], 'a prompt in use is drawn solid');
  assert.deepEqual(coloured[1].dash, [6, 4], 'the box being dragged is dashed');
  assert.equal(context.arcs, 2, 'one point per prompt drawn');
});
