import assert from 'node:assert/strict';
import { test } from 'node:test';

import fc from 'fast-check';

import { isRnnlmError } from '../../../../src/errors.js';
import {
  buildProcessors,
  sampleToken,
  temperature,
  topK,
  topP,
  validateSamplingOptions,
  type SamplingOptions,
} from '../../../../src/ml/generate/logits.js';
import { logSoftmax } from '../../../../src/ml/logprobs.js';
import { Rng } from '../../../../src/ml/rng.js';

function probs(logits: Float32Array): number[] {
  return Array.from(logSoftmax(logits), Math.exp);
}

/** Tokens ranked ahead of `id`: strictly higher score, or equal score and a lower id. */
function ranksAhead(scores: ArrayLike<number>, id: number): number[] {
  const own = scores[id]!;
  return Array.from(scores, (_, j) => j).filter((j) => scores[j]! > own || (scores[j] === own && j < id));
}

// Small integers mixed in make equal logits common, so tie-breaking gets exercised.
const logitVector = fc
  .array(fc.oneof(fc.double({ min: -20, max: 20, noNaN: true }), fc.integer({ min: -3, max: 3 })), {
    minLength: 1,
    maxLength: 40,
  })
  .map((values) => Float32Array.from(values));

function kept(logits: Float32Array): number[] {
  return Array.from(logits, (_, id) => id).filter((id) => logits[id]! > -Infinity);
}

function throwsInvalid(fn: () => unknown, field: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isRnnlmError(err, 'RNNLM_INVALID_CONFIG'), String(err));
    assert.match(err.message, new RegExp(field));
    assert.equal(err.details?.field, field);
    return true;
  });
}

test('greedy picks the argmax, the lowest id on ties', () => {
  const rng = new Rng(1);
  assert.equal(sampleToken(Float32Array.of(0.1, 2, -3, 1.9), { temperature: 0 }, rng), 1);
  assert.equal(sampleToken(Float32Array.of(1, 5, 5, 2), { temperature: 0, topK: 2, topP: 0.1 }, rng), 1);
});

test('sampling leaves the caller logits untouched', () => {
  const logits = Float32Array.of(1, 2, 3, 4);
  const copy = logits.slice();
  sampleToken(logits, { temperature: 0.5, topK: 2, topP: 0.9, suppressIds: [3] }, new Rng(3));
  assert.deepEqual(logits, copy);
});

test('the same seed reproduces 100 draws and a different seed does not', () => {
  const logits = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i));
  const run = (seed: number): number[] => {
    const rng = new Rng(seed);
    return Array.from({ length: 100 }, () => sampleToken(logits, { temperature: 1 }, rng));
  };
  assert.deepEqual(run(42), run(42));
  assert.notDeepEqual(run(42), run(43));
});

test('empirical frequencies over 20k draws match softmax at temperature 1', () => {
  const logits = Float32Array.of(1, 2, 0.5, -1, 3);
  const expected = probs(logits);
  const counts = new Array<number>(logits.length).fill(0);
  const rng = new Rng(7);
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const id = sampleToken(logits, {}, rng);
    counts[id] = counts[id]! + 1;
  }
  // The largest standard error here is about 0.0035, so 0.015 is beyond four sigma.
  counts.forEach((count, id) => assert.ok(Math.abs(count / n - expected[id]!) < 0.015, `token ${id}`));
});

test('temperature below 1 sharpens the distribution and above 1 flattens it', () => {
  const logits = Float32Array.of(2, 1, 0, -1);
  const tempered = (t: number): number[] => {
    const work = logits.slice();
    temperature(t)(work);
    return probs(work);
  };
  const base = probs(logits)[0]!;
  assert.ok(tempered(0.5)[0]! > base);
  assert.ok(tempered(2)[0]! < base);
  assert.ok(tempered(100)[0]! - tempered(100)[3]! < 0.05);

  const rng = new Rng(5);
  const cold = Array.from({ length: 500 }, () => sampleToken(logits, { temperature: 0.05 }, rng));
  assert.ok(cold.every((id) => id === 0));
});

test('a tiny temperature on huge logits neither overflows nor loses the winners', () => {
  const logits = Float32Array.of(3e38, -3e38, 3e38, 1);
  const rng = new Rng(11);
  for (let i = 0; i < 200; i++) {
    const id = sampleToken(logits, { temperature: 1e-30 }, rng);
    assert.ok(id === 0 || id === 2, `drew ${id}`);
  }
});

test('top-k never emits a token outside the top k', () => {
  fc.assert(
    fc.property(logitVector, fc.integer({ min: 1, max: 10 }), fc.integer(), (logits, k, seed) => {
      const rng = new Rng(seed);
      for (let i = 0; i < 20; i++) {
        const id = sampleToken(logits, { topK: k }, rng);
        assert.ok(ranksAhead(logits, id).length < k, `token ${id} is outside the top ${k}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('top-k keeps exactly the k highest, lower ids first among equals, and k >= V is a no-op', () => {
  fc.assert(
    fc.property(logitVector, fc.integer({ min: 1, max: 45 }), (logits, k) => {
      const expected = kept(logits).filter((id) => ranksAhead(logits, id).length < k);
      const work = logits.slice();
      topK(k)(work);
      assert.deepEqual(kept(work), expected);
    }),
    { numRuns: 300 },
  );
  const logits = Float32Array.of(1, 3, 3, 3, 2);
  topK(2)(logits);
  assert.deepEqual(Array.from(logits), [-Infinity, 3, 3, -Infinity, -Infinity]);
  const whole = Float32Array.of(1, 2, 3);
  topK(3)(whole);
  assert.deepEqual(Array.from(whole), [1, 2, 3]);
});

test('top-p never emits a token outside the nucleus', () => {
  fc.assert(
    fc.property(
      logitVector,
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      fc.integer(),
      (logits, p, seed) => {
        const probabilities = probs(logits);
        const rng = new Rng(seed);
        for (let i = 0; i < 20; i++) {
          const id = sampleToken(logits, { topP: p }, rng);
          // In the nucleus exactly when the mass ranked ahead has not yet reached p. Ranking by
          // logit gives the exact probability order even where exp rounds two logits together.
          const ahead = ranksAhead(logits, id).reduce((sum, j) => sum + probabilities[j]!, 0);
          assert.ok(ahead < p + 1e-9, `token ${id} has ${ahead} ranked ahead of it, p = ${p}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('top-p keeps exactly the nucleus, including the token that crosses p, and at least one', () => {
  fc.assert(
    fc.property(logitVector, fc.double({ min: 1e-12, max: 1, noNaN: true }), (logits, p) => {
      const probabilities = probs(logits);
      const work = logits.slice();
      topP(p)(work);
      const survivors = new Set(kept(work));
      assert.ok(survivors.size >= 1);
      logits.forEach((_, id) => {
        const ahead = ranksAhead(logits, id).reduce((sum, j) => sum + probabilities[j]!, 0);
        if (survivors.has(id)) assert.ok(ahead < p + 1e-9, `kept ${id} with ${ahead} ahead, p = ${p}`);
        else assert.ok(ahead >= p - 1e-9, `dropped ${id} with only ${ahead} ahead, p = ${p}`);
      });
    }),
    { numRuns: 300 },
  );
  const logits = Float32Array.from([0.5, 0.3, 0.15, 0.05], Math.log);
  topP(0.7)(logits);
  assert.deepEqual(
    Array.from(logits, (v) => v > -Infinity),
    [true, true, false, false],
  );
  const tiny = Float32Array.of(0, 4, 4, 1);
  topP(1e-9)(tiny);
  assert.deepEqual(Array.from(tiny), [-Infinity, 4, -Infinity, -Infinity]);
});

test('processors apply in order: suppression before top-k, temperature before top-p', () => {
  const rng = new Rng(9);
  const suppressed = Float32Array.of(10, 5, 1);
  for (let i = 0; i < 100; i++) {
    assert.equal(sampleToken(suppressed, { suppressIds: [0], topK: 1 }, rng), 1);
  }
  const nucleus = (t: number): boolean[] => {
    const work = Float32Array.from([0.5, 0.3, 0.2], Math.log);
    for (const processor of buildProcessors({ temperature: t, topP: 0.6 })) processor(work);
    return Array.from(work, (v) => v > -Infinity);
  };
  assert.deepEqual(nucleus(1), [true, true, false]);
  assert.deepEqual(nucleus(0.1), [true, false, false]);
});

test('suppressed ids are never emitted', () => {
  const logits = Float32Array.of(9, 8, 0, 1, 7);
  const rng = new Rng(13);
  for (const options of [{ temperature: 0 }, { temperature: 1 }, { temperature: 3, topP: 0.99 }]) {
    for (let i = 0; i < 500; i++) {
      const id = sampleToken(logits, { ...options, suppressIds: [0, 4, 99] }, rng);
      assert.ok(id !== 0 && id !== 4, `drew suppressed ${id}`);
    }
  }
});

test('a logit bias moves a token as OpenAI logit_bias does: -100 rules it out, +100 forces it', () => {
  const logits = Float32Array.of(9, 8, 0, 1, 7);
  const rng = new Rng(21);
  for (const options of [{ temperature: 0 }, { temperature: 1 }, { temperature: 2, topK: 3 }]) {
    for (let i = 0; i < 300; i++) {
      assert.notEqual(sampleToken(logits, { ...options, logitBias: { '0': -100 } }, rng), 0);
      assert.equal(sampleToken(logits, { ...options, logitBias: { '2': 100 } }, rng), 2);
    }
  }
  // Greedy: a small bias decides between near equals, and suppression still wins over it.
  assert.equal(sampleToken(logits, { temperature: 0, logitBias: { '1': 1.5 } }, rng), 1);
  assert.equal(sampleToken(logits, { temperature: 0, logitBias: { '1': 50 }, suppressIds: [1] }, rng), 0);
  assert.deepEqual(Array.from(logits), [9, 8, 0, 1, 7], 'the caller logits are untouched');
});

test('suppressing every token throws RNNLM_INVALID_CONFIG', () => {
  const logits = Float32Array.of(1, 2, 3);
  for (const t of [0, 1]) {
    throwsInvalid(
      () => sampleToken(logits, { temperature: t, suppressIds: [0, 1, 2] }, new Rng(1)),
      'suppressIds',
    );
  }
});

test('validation errors name the field', () => {
  const cases: [SamplingOptions, string][] = [
    [{ temperature: -0.1 }, 'temperature'],
    [{ temperature: Number.NaN }, 'temperature'],
    [{ temperature: Infinity }, 'temperature'],
    [{ topK: -1 }, 'topK'],
    [{ topK: 2.5 }, 'topK'],
    [{ topK: Infinity }, 'topK'],
    [{ topP: 0 }, 'topP'],
    [{ topP: 1.01 }, 'topP'],
    [{ topP: Number.NaN }, 'topP'],
    [{ suppressIds: [1, -2] }, 'suppressIds'],
    [{ suppressIds: [0.5] }, 'suppressIds'],
    [{ logitBias: { '-1': 1 } }, 'logitBias'],
    [{ logitBias: { '1.5': 1 } }, 'logitBias'],
    [{ logitBias: { x: 1 } }, 'logitBias'],
    [{ logitBias: { '1': 100.5 } }, 'logitBias'],
    [{ logitBias: { '1': Number.NaN } }, 'logitBias'],
  ];
  for (const [options, field] of cases) {
    throwsInvalid(() => validateSamplingOptions(options), field);
    throwsInvalid(() => sampleToken(Float32Array.of(1, 2), options, new Rng(1)), field);
  }
  validateSamplingOptions({ temperature: 0, topK: 0, topP: 1, suppressIds: [], logitBias: { '7': -100 } });
  throwsInvalid(() => validateSamplingOptions({ logitBias: { '7': 1 } }, 7), 'logitBias');
  throwsInvalid(() => temperature(0), 'temperature');
  throwsInvalid(() => topK(0), 'topK');
  throwsInvalid(() => topP(0), 'topP');
});

test('logSoftmax sums to 1 in probability space and is stable for huge logits', () => {
  const logits = Float32Array.of(1, -2, 0.5, 3, -Infinity);
  const lp = logSoftmax(logits);
  assert.ok(Math.abs(lp.reduce((sum, v) => sum + Math.exp(v), 0) - 1) < 1e-12);
  assert.equal(lp[4], -Infinity);
  const naive = Array.from(logits, Math.exp);
  const z = naive.reduce((a, b) => a + b, 0);
  lp.forEach((v, i) => assert.ok(Math.abs(Math.exp(v) - naive[i]! / z) < 1e-12));

  const huge = logSoftmax(Float32Array.of(1e30, 1e30, -1e30));
  assert.ok(Math.abs(huge[0]! - Math.log(0.5)) < 1e-12);
  assert.ok(Math.abs(huge[1]! - Math.log(0.5)) < 1e-12);
  assert.ok(Number.isFinite(huge[2]) && huge[2]! < -1e29);
  assert.ok(Math.abs(Math.exp(huge[0]!) + Math.exp(huge[1]!) - 1) < 1e-12);
  assert.ok(huge.every((v) => !Number.isNaN(v)));
});
