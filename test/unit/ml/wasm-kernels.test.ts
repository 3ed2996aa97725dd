import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';

import { initBackend } from '../../../src/ml/backend.js';

before(async () => {
  await initBackend('wasm');
});

/** The slice computed index by index, as the definition says. */
function referenceSlice(data: Float32Array, shape: number[], begin: number[], size: number[]): number[] {
  const strides = tf.util.computeStrides(shape);
  const out: number[] = [];
  const total = size.reduce((a, b) => a * b, 1);
  for (let k = 0; k < total; k++) {
    let rest = k;
    let offset = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      const i = rest % (size[d] as number);
      rest = Math.floor(rest / (size[d] as number));
      offset += ((begin[d] as number) + i) * (d === shape.length - 1 ? 1 : (strides[d] as number));
    }
    out.push(data[offset] as number);
  }
  return out;
}

test('the wasm slice kernel returns exactly the slice for any shape, begin and size', () => {
  assert.equal(tf.getBackend(), 'wasm');
  const arb = fc
    .array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 })
    .chain((shape) =>
      fc.tuple(
        fc.constant(shape),
        fc.tuple(...shape.map((n) => fc.integer({ min: 0, max: n - 1 }))),
        fc.tuple(...shape.map(() => fc.integer({ min: 0, max: 6 }))),
      ),
    );
  fc.assert(
    fc.property(arb, ([shape, begin, rawSize]) => {
      const size = shape.map((n, d) => Math.min(rawSize[d] as number, n - (begin[d] as number)));
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => i + 0.5);
      const got = tf.tidy(() => Array.from(tf.slice(tf.tensor(data, shape), begin, size).dataSync()));
      assert.deepEqual(got, referenceSlice(data, shape, begin, size));
    }),
    { numRuns: 300 },
  );
});

test('int32 slices and slices of a large time-major projection stay exact', () => {
  const x = tf.tensor2d(
    Int32Array.from({ length: 64 * 40 }, (_, i) => i),
    [64, 40],
    'int32',
  );
  const rows = tf.slice(x, [32, 0], [8, 40]);
  assert.deepEqual(
    Array.from(rows.dataSync()),
    Array.from({ length: 320 }, (_, i) => 32 * 40 + i),
  );
  const cols = tf.slice(x, [1, 5], [2, 3]);
  assert.deepEqual(Array.from(cols.dataSync()), [45, 46, 47, 85, 86, 87]);
  tf.dispose([x, rows, cols]);
});
