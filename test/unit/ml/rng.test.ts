import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../../src/ml/rng.js';

test('the same seed gives the same sequence and a restored state continues it', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const first = Array.from({ length: 5 }, () => a.nextUint32());
  assert.deepEqual(
    first,
    Array.from({ length: 5 }, () => b.nextUint32()),
  );
  const saved = a.state();
  const expected = Array.from({ length: 5 }, () => a.float());
  const restored = new Rng(saved);
  assert.deepEqual(
    Array.from({ length: 5 }, () => restored.float()),
    expected,
  );
});

test('different seeds give different sequences', () => {
  assert.notEqual(new Rng(1).nextUint32(), new Rng(2).nextUint32());
});

test('draws stay in range and the normal has roughly unit variance', () => {
  const rng = new Rng(7);
  let sum = 0;
  let sq = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const u = rng.float();
    assert.ok(u >= 0 && u < 1);
    const k = rng.int(10);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 10);
    const z = rng.normal();
    sum += z;
    sq += z * z;
  }
  assert.ok(Math.abs(sum / n) < 0.05);
  assert.ok(Math.abs(sq / n - 1) < 0.05);
});

test('shuffle is a permutation', () => {
  const items = Array.from({ length: 100 }, (_, i) => i);
  const shuffled = new Rng(3).shuffle([...items]);
  assert.notDeepEqual(shuffled, items);
  assert.deepEqual(
    [...shuffled].sort((x, y) => x - y),
    items,
  );
});
