import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isRnnlmError } from '../../../../src/errors.js';
import type { Minibatch, PartitionOptions } from '../../../../src/ml/data/partition.js';
import {
  fillBatch,
  maxSegmentLength,
  minTokensForOneBatch,
  planEpoch,
} from '../../../../src/ml/data/partition.js';
import type { TruncationConfig } from '../../../../src/ml/data/truncation.js';
import { Rng } from '../../../../src/ml/rng.js';

function options(overrides: Partial<PartitionOptions> = {}): PartitionOptions {
  return {
    numTokens: 1003,
    batchSize: 4,
    seqLength: 10,
    partition: 'sequential',
    truncation: { mode: 'fixed' },
    ...overrides,
  };
}

/** Checks the sequential contract: each stream read once, in order, from a state reset only first. */
function assertSequentialCoverage(opts: PartitionOptions, plan: Minibatch[]): void {
  const first = plan[0];
  assert.ok(first !== undefined);
  const offset = first.starts[0] ?? -1;
  assert.ok(offset >= 0 && offset < opts.seqLength);
  const streamLength = Math.floor((opts.numTokens - offset - 1) / opts.batchSize);
  assert.deepEqual(
    plan.map((mb) => mb.resetState),
    plan.map((_, k) => k === 0),
  );
  for (let b = 0; b < opts.batchSize; b++) {
    const inputs: number[] = [];
    for (const mb of plan) {
      for (let t = 0; t < mb.length; t++) inputs.push((mb.starts[b] ?? Number.NaN) + t);
    }
    const expected = Array.from({ length: streamLength }, (_, i) => offset + b * streamLength + i);
    assert.deepEqual(inputs, expected, `stream ${b}`);
  }
  assert.ok((plan.at(-1)?.starts.at(-1) ?? 0) + (plan.at(-1)?.length ?? 0) <= opts.numTokens - 1);
}

/** Checks that the pieces of a random plan are disjoint and inside the token array. */
function assertRandomPieces(opts: PartitionOptions, plan: Minibatch[]): void {
  const pieces: [number, number][] = [];
  for (const mb of plan) {
    assert.equal(mb.resetState, true);
    assert.equal(mb.starts.length, opts.batchSize);
    for (const start of mb.starts) {
      assert.ok(start >= 0 && start + mb.length <= opts.numTokens - 1, `piece at ${start} is in bounds`);
      pieces.push([start, start + mb.length]);
    }
  }
  pieces.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < pieces.length; i++) {
    assert.ok((pieces[i]?.[0] ?? 0) >= (pieces[i - 1]?.[1] ?? Infinity), 'pieces do not overlap');
  }
}

test('sequential partitioning reads every token of each stream once and in order, resetting only first', () => {
  const opts = options();
  const offsets = new Set<number>();
  for (let seed = 0; seed < 30; seed++) {
    const plan = planEpoch(opts, new Rng(seed));
    assertSequentialCoverage(opts, plan);
    offsets.add(plan[0]?.starts[0] ?? -1);
    for (const mb of plan.slice(0, -1)) assert.equal(mb.length, 10);
    assert.ok((plan.at(-1)?.length ?? 0) <= 10);
  }
  assert.ok(offsets.size > 3, 'the offset moves between epochs');
});

test('sequential partitioning with variable and randomized truncation still covers every stream', () => {
  const truncations: TruncationConfig[] = [{ mode: 'variable' }, { mode: 'randomized' }];
  for (const truncation of truncations) {
    const opts = options({ numTokens: 5000, batchSize: 3, seqLength: 20, truncation });
    for (let seed = 0; seed < 10; seed++) {
      const plan = planEpoch(opts, new Rng(seed));
      assertSequentialCoverage(opts, plan);
      for (const mb of plan) {
        if (truncation.mode === 'variable') {
          assert.equal(mb.lrScale, mb.length / 20);
          assert.equal(mb.backwardScale, undefined);
        } else {
          assert.equal(mb.backwardScale?.length, mb.length);
        }
      }
      assert.ok(new Set(plan.map((mb) => mb.length)).size > 2, 'lengths vary');
    }
  }
});

test('sequential partitioning without truncation is one minibatch per stream', () => {
  const opts = options({ truncation: { mode: 'none' } });
  const plan = planEpoch(opts, new Rng(1));
  assert.equal(plan.length, 1);
  assertSequentialCoverage(opts, plan);
  assert.throws(
    () =>
      planEpoch(
        options({ numTokens: 10_000, batchSize: 2, truncation: { mode: 'none', maxLength: 100 } }),
        new Rng(1),
      ),
    (err) => isRnnlmError(err, 'RNNLM_SEQUENCE_TOO_LONG'),
  );
  assert.equal(maxSegmentLength(opts), Math.floor(1002 / 4));
});

test('random partitioning cuts disjoint in-bounds pieces and resets the state every minibatch', () => {
  const opts = options({ numTokens: 2000, partition: 'random' });
  for (let seed = 0; seed < 20; seed++) {
    const plan = planEpoch(opts, new Rng(seed));
    assertRandomPieces(opts, plan);
    const offset = Math.min(...plan.flatMap((mb) => Array.from(mb.starts)));
    assert.ok(offset < 10);
    assert.equal(plan.length, Math.floor((2000 - offset - 1) / (4 * 10)));
    for (const mb of plan) assert.equal(mb.length, 10);
  }
});

test('random partitioning spreads the rows of a minibatch over the corpus', () => {
  const plan = planEpoch(options({ numTokens: 20_000, partition: 'random' }), new Rng(3));
  const spreads = plan.map((mb) => Math.max(...mb.starts) - Math.min(...mb.starts));
  assert.ok(spreads.filter((s) => s > 4 * 10).length > plan.length / 2);
});

test('random partitioning works with every truncation mode', () => {
  for (const truncation of [
    { mode: 'variable' },
    { mode: 'randomized' },
    { mode: 'none' },
  ] satisfies TruncationConfig[]) {
    const opts = options({ numTokens: 3000, batchSize: 5, seqLength: 16, partition: 'random', truncation });
    for (let seed = 0; seed < 10; seed++) {
      const plan = planEpoch(opts, new Rng(seed));
      assertRandomPieces(opts, plan);
      if (truncation.mode === 'none') {
        assert.equal(plan.length, 1);
        const offset = Math.min(...(plan[0]?.starts ?? []));
        assert.equal(plan[0]?.length, Math.floor((3000 - offset - 1) / 5));
      }
    }
  }
});

test('different seeds give different plans and the same rng state gives the same plan', () => {
  for (const partition of ['sequential', 'random'] as const) {
    const opts = options({ numTokens: 5000, partition, truncation: { mode: 'randomized' } });
    const rng = new Rng(42);
    const state = rng.state();
    const plan = planEpoch(opts, rng);
    const replay = new Rng(state);
    assert.deepEqual(planEpoch(opts, replay), plan);
    assert.equal(replay.nextUint32(), rng.nextUint32());
    assert.notDeepEqual(planEpoch(opts, new Rng(43)), plan);
  }
});

test('fillBatch writes inputs time-major and targets shifted by one', () => {
  const tokens = Int32Array.from({ length: 100 }, (_, i) => 1000 + i);
  const mb: Minibatch = {
    length: 3,
    starts: Int32Array.from([0, 40, 96]),
    lrScale: 1,
    backwardScale: undefined,
    resetState: true,
  };
  const x = new Int32Array(9);
  const y = new Int32Array(9);
  fillBatch(tokens, mb, x, y);
  assert.deepEqual(Array.from(x), [1000, 1040, 1096, 1001, 1041, 1097, 1002, 1042, 1098]);
  assert.deepEqual(Array.from(y), [1001, 1041, 1097, 1002, 1042, 1098, 1003, 1043, 1099]);

  const big = new Int32Array(12).fill(-1);
  fillBatch(tokens, mb, big, new Int32Array(12));
  assert.deepEqual(Array.from(big.subarray(9)), [-1, -1, -1]);

  assert.throws(() => fillBatch(tokens, mb, new Int32Array(8), y), RangeError);
  assert.throws(() => fillBatch(tokens, { ...mb, starts: Int32Array.from([0, 40, 97]) }, x, y), RangeError);
});

test('fillBatch agrees with every minibatch of a plan', () => {
  const opts = options({
    numTokens: 500,
    batchSize: 3,
    partition: 'random',
    truncation: { mode: 'variable' },
  });
  const tokens = Int32Array.from({ length: opts.numTokens }, (_, i) => i);
  const size = maxSegmentLength(opts) * opts.batchSize;
  const x = new Int32Array(size);
  const y = new Int32Array(size);
  for (const mb of planEpoch(opts, new Rng(5))) {
    fillBatch(tokens, mb, x, y);
    for (let t = 0; t < mb.length; t++) {
      for (let b = 0; b < 3; b++) {
        assert.equal(x[t * 3 + b], (mb.starts[b] ?? Number.NaN) + t);
        assert.equal(y[t * 3 + b], (x[t * 3 + b] ?? Number.NaN) + 1);
      }
    }
  }
});

test('a corpus below minTokensForOneBatch fails with RNNLM_CORPUS_TOO_SMALL, one at it plans', () => {
  const cases: [Omit<PartitionOptions, 'numTokens'>, number][] = [
    [{ batchSize: 4, seqLength: 10, partition: 'sequential', truncation: { mode: 'fixed' } }, 5],
    [{ batchSize: 4, seqLength: 10, partition: 'sequential', truncation: { mode: 'randomized' } }, 5],
    [{ batchSize: 4, seqLength: 10, partition: 'random', truncation: { mode: 'fixed' } }, 41],
    [{ batchSize: 4, seqLength: 10, partition: 'random', truncation: { mode: 'variable' } }, 201],
    [{ batchSize: 4, seqLength: 10, partition: 'random', truncation: { mode: 'randomized' } }, 161],
    [{ batchSize: 4, seqLength: 10, partition: 'random', truncation: { mode: 'none' } }, 5],
  ];
  for (const [opts, minimum] of cases) {
    assert.equal(minTokensForOneBatch(opts), minimum, JSON.stringify(opts));
    for (let seed = 0; seed < 20; seed++) {
      assert.ok(planEpoch({ ...opts, numTokens: minimum }, new Rng(seed)).length >= 1);
      assert.throws(
        () => planEpoch({ ...opts, numTokens: minimum - 1 }, new Rng(seed)),
        (err) =>
          isRnnlmError(err, 'RNNLM_CORPUS_TOO_SMALL') &&
          err.message.includes(String(minimum - 1)) &&
          err.message.includes(String(minimum)) &&
          err.details?.['minTokens'] === minimum,
      );
    }
  }
});

test('invalid partition options are rejected naming the field', () => {
  assert.throws(
    () => planEpoch(options({ batchSize: 0 }), new Rng(1)),
    (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG') && err.details?.['field'] === 'training.batchSize',
  );
  assert.throws(
    () => planEpoch(options({ partition: 'shuffled' as PartitionOptions['partition'] }), new Rng(1)),
    (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG') && err.details?.['field'] === 'training.partition',
  );
  assert.throws(
    () => minTokensForOneBatch({ ...options(), truncation: { mode: 'variable', p: 2 } }),
    (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG') && err.details?.['field'] === 'training.truncation.p',
  );
});
