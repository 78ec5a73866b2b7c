// Unit tests of the DOM-free parts of web/js/sss-panel.js in Node: the class counts the page
// and the panel report, and the typed events the panel tells the page with.

import assert from 'node:assert/strict';
import test from 'node:test';

import { Emitter } from '../../web/js/emitter.js';
import { classCounts } from '../../web/js/sss-panel.js';

test('classCounts: voxels per label, every class listed, larger labels kept', () => {
  assert.deepEqual(classCounts(new Uint8Array([0, 2, 2, 0, 0]), 4), [3, 0, 2, 0]);
  assert.deepEqual(classCounts([], 2), [0, 0]);
  // A label the weights do not name (a stale map) is counted, not dropped.
  const counts = classCounts([1, 5], 2);
  assert.equal(counts.length, 6);
  assert.deepEqual([counts[0], counts[1], counts[5]], [0, 1, 1]);
});

test('Emitter: listeners of the type, in order, with the payload; other types untouched', () => {
  /** @type {Emitter<{step: number, done: undefined}>} */
  const events = new Emitter();
  /** @type {string[]} */
  const heard = [];
  events.on('step', (z) => heard.push(`a${z}`));
  events.on('step', (z) => heard.push(`b${z}`));
  events.on('done', (payload) => heard.push(`done ${payload}`));
  events.emit('step', 3);
  events.emit('done');
  assert.deepEqual(heard, ['a3', 'b3', 'done undefined']);
});

test('Emitter: an event nobody listens to does nothing; a listener\'s error reaches the emitter', () => {
  /** @type {Emitter<{error: string}>} */
  const events = new Emitter();
  events.emit('error', 'unheard');
  events.on('error', (message) => { throw new Error(message); });
  assert.throws(() => events.emit('error', 'boom'), { message: 'boom' });
});
