import assert from 'node:assert/strict';
import { before, test } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';

import { initBackend } from '../../../src/ml/backend.js';
import { loadNativeKernels } from '../../../src/ml/native.js';

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

/** The gather computed index by index, as the definition says (batchDims 0). */
function referenceGather(data: Float32Array, shape: number[], ids: number[], axis: number): number[] {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const rows = shape[axis] as number;
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const id of ids)
      for (let j = 0; j < inner; j++) out.push(data[(o * rows + id) * inner + j] as number);
  return out;
}

test('the wasm gather kernel returns exactly the gathered rows for any shape, axis and indices', () => {
  assert.equal(tf.getBackend(), 'wasm');
  const arb = fc
    .array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 })
    .chain((shape) =>
      fc
        .integer({ min: 0, max: shape.length - 1 })
        .chain((axis) =>
          fc.tuple(
            fc.constant(shape),
            fc.constant(axis),
            fc.array(fc.integer({ min: 0, max: (shape[axis] as number) - 1 }), { maxLength: 9 }),
          ),
        ),
    );
  fc.assert(
    fc.property(arb, ([shape, axis, ids]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = Float32Array.from({ length: n }, (_, i) => i + 0.25);
      const got = tf.tidy(() =>
        Array.from(tf.gather(tf.tensor(data, shape), tf.tensor1d(ids, 'int32'), axis).dataSync()),
      );
      assert.deepEqual(got, referenceGather(data, shape, ids, axis));
    }),
    { numRuns: 300 },
  );
});

test('a gather with an index out of range fails as the original kernel does, naming the index', () => {
  const table = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  assert.throws(() => tf.gather(table, tf.tensor1d([0, 5], 'int32')), /index value 5 is not in \[0, 1\]/);
  assert.throws(() => tf.gather(table, tf.tensor1d([-1], 'int32')), /index value -1/);
  const ints = tf.gather(tf.tensor1d([7, 8, 9], 'int32'), tf.tensor1d([2, 0, 2], 'int32'));
  assert.equal(ints.dtype, 'int32');
  assert.deepEqual(Array.from(ints.dataSync()), [9, 7, 9]);
  tf.dispose([table, ints]);
});

/** The product computed entry by entry in double precision, as the definition says. */
function referenceMatMul(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): number[] {
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const [m, k] = transposeA ? [ca, ra] : [ra, ca];
  const n = transposeB ? rb : cb;
  const batch = a.size / (ra * ca);
  const av = a.dataSync();
  const bv = b.dataSync();
  const bBatch = b.size / (rb * cb);
  const out: number[] = [];
  for (let p = 0; p < batch; p++) {
    const ao = p * ra * ca;
    const bo = (bBatch === 1 ? 0 : p) * rb * cb;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) {
          const x = av[ao + (transposeA ? q * ca + i : i * ca + q)] as number;
          const y = bv[bo + (transposeB ? j * cb + q : q * cb + j)] as number;
          s += x * y;
        }
        out.push(s);
      }
    }
  }
  return out;
}

for (const native of ['on', 'off'] as const) {
  test(`matMul on the wasm backend equals its definition for every transpose, batch and fallback shape (native kernels ${native})`, async (t) => {
    if (native === 'on' && loadNativeKernels() === null) {
      t.skip('native/ is not built (npm run build:native): the sgemm-backed matMul is not under test');
      return;
    }
    await initBackend('wasm', native);
    const shapes: [number[], number[]][] = [
      [
        [7, 5],
        [5, 3],
      ],
      [
        [1, 4],
        [4, 9],
      ],
      [
        [2, 6, 4],
        [2, 4, 3],
      ],
      // Broadcast batch: not the native kernel's case, so the original kernel answers.
      [
        [3, 2, 4],
        [1, 4, 5],
      ],
    ];
    for (const [sa, sb] of shapes) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const swap = (s: number[], t: boolean) =>
            t ? [...s.slice(0, -2), s.at(-1) as number, s.at(-2) as number] : s;
          const a = tf.randomUniform(swap(sa, transposeA), -1, 1, 'float32', 1);
          const b = tf.randomUniform(swap(sb, transposeB), -1, 1, 'float32', 2);
          const c = tf.matMul(a, b, transposeA, transposeB);
          const want = referenceMatMul(a, b, transposeA, transposeB);
          const got = Array.from(c.dataSync());
          assert.equal(got.length, want.length);
          got.forEach((v, i) =>
            assert.ok(
              Math.abs(v - (want[i] as number)) < 1e-5,
              `${native} [${sa.join(',')}]×[${sb.join(',')}] ${transposeA} ${transposeB}`,
            ),
          );
          tf.dispose([a, b, c]);
        }
      }
    }
    await initBackend('wasm', 'auto');
  });
}
