import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isRnnlmError } from '../../../../src/errors.js';
import type { Segment, TruncationConfig } from '../../../../src/ml/data/truncation.js';
import { assertUntruncatedFits, TruncationSchedule } from '../../../../src/ml/data/truncation.js';
import { Rng } from '../../../../src/ml/rng.js';

function draw(schedule: TruncationSchedule, rng: Rng, count: number, remaining = 1_000_000): Segment[] {
  return Array.from({ length: count }, () => schedule.next(rng, remaining));
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function invalidField(field: string): (err: unknown) => boolean {
  return (err) => isRnnlmError(err, 'RNNLM_INVALID_CONFIG') && err.details?.['field'] === field;
}

test('fixed truncation gives seqLength segments and a shorter one only at the end of the stream', () => {
  const schedule = new TruncationSchedule({ mode: 'fixed' }, 35);
  const rng = new Rng(1);
  assert.equal(schedule.maxLength, 35);
  for (const segment of draw(schedule, rng, 10)) {
    assert.deepEqual(segment, { length: 35, lrScale: 1, backwardScale: undefined });
  }
  assert.equal(schedule.next(rng, 12).length, 12);
  assert.equal(schedule.next(rng, 1).length, 1);
});

test('variable truncation draws lengths of at least 5 around p*seqLength + (1-p)*seqLength/2', () => {
  const seqLength = 70;
  const schedule = new TruncationSchedule({ mode: 'variable' }, seqLength);
  assert.equal(schedule.maxLength, seqLength + 40);
  const segments = draw(schedule, new Rng(2), 20_000);
  for (const segment of segments) {
    assert.ok(segment.length >= 5 && segment.length <= schedule.maxLength);
    assert.equal(segment.lrScale, segment.length / seqLength);
    assert.equal(segment.backwardScale, undefined);
  }
  const expected = 0.95 * seqLength + 0.05 * (seqLength / 2);
  assert.ok(Math.abs(mean(segments.map((s) => s.length)) - expected) < 0.3);
  assert.ok(
    segments.some((s) => s.length < seqLength * 0.75),
    'the seqLength/2 branch shows up',
  );
});

test('variable truncation honours p, sigma, maxLength and the end of the stream', () => {
  const half = new TruncationSchedule({ mode: 'variable', p: 0.5, sigma: 2 }, 40);
  assert.ok(Math.abs(mean(draw(half, new Rng(3), 20_000).map((s) => s.length)) - 30) < 0.3);

  const exact = new TruncationSchedule({ mode: 'variable', p: 1, sigma: 0 }, 40);
  assert.deepEqual(
    draw(exact, new Rng(4), 5).map((s) => s.length),
    [40, 40, 40, 40, 40],
  );

  const capped = new TruncationSchedule({ mode: 'variable', sigma: 50, maxLength: 45 }, 40);
  const rng = new Rng(5);
  for (const segment of draw(capped, rng, 2000)) assert.ok(segment.length <= 45);
  for (let i = 0; i < 200; i++) {
    const segment = capped.next(rng, 3);
    assert.ok(segment.length >= 1 && segment.length <= 3);
    assert.equal(segment.lrScale, segment.length / 40);
  }
});

test('randomized truncation draws lengths between minLength and maxLength with mean seqLength', () => {
  const seqLength = 20;
  const schedule = new TruncationSchedule({ mode: 'randomized' }, seqLength);
  assert.equal(schedule.maxLength, 4 * seqLength);
  const segments = draw(schedule, new Rng(6), 20_000);
  for (const segment of segments) {
    assert.ok(segment.length >= 10 && segment.length <= 80);
    assert.equal(segment.lrScale, 1);
  }
  assert.ok(Math.abs(mean(segments.map((s) => s.length)) - seqLength) < 0.3);
});

test('randomized truncation compensates every step that survived a possible truncation', () => {
  const schedule = new TruncationSchedule({ mode: 'randomized', minLength: 4 }, 10);
  const c = 1 / (10 - 4 + 1);
  for (const { length, backwardScale } of draw(schedule, new Rng(7), 200)) {
    assert.ok(backwardScale instanceof Float32Array);
    assert.equal(backwardScale.length, length);
    assert.equal(backwardScale[0], 0);
    for (let d = 1; d < length; d++) {
      assert.equal(backwardScale[d], d < 4 ? 1 : Math.fround(1 / (1 - c)));
    }
  }
});

test('randomized compensation makes the expected weight of a gradient path 1 at any distance', () => {
  // The gradient from step d back to the segment start flows only when the segment is longer
  // than d, weighted by the product of the scales on the way; its expectation must be 1.
  const schedule = new TruncationSchedule({ mode: 'randomized', minLength: 10, maxLength: 400 }, 20);
  const segments = draw(schedule, new Rng(8), 20_000);
  for (const d of [5, 15, 25]) {
    const weights = segments.map(({ length, backwardScale }) => {
      if (length <= d || backwardScale === undefined) return 0;
      let weight = 1;
      for (let t = 1; t <= d; t++) weight *= backwardScale[t] ?? Number.NaN;
      return weight;
    });
    assert.ok(Math.abs(mean(weights) - 1) < 0.06, `distance ${d}: ${mean(weights)}`);
  }
});

test('randomized truncation never passes the end of the stream and allows minLength = seqLength', () => {
  const schedule = new TruncationSchedule({ mode: 'randomized' }, 20);
  const rng = new Rng(9);
  assert.equal(schedule.next(rng, 3).length, 3);
  assert.equal(schedule.next(rng, 3).backwardScale?.length, 3);

  const fixedLike = new TruncationSchedule({ mode: 'randomized', minLength: 8 }, 8);
  for (const { length, backwardScale } of draw(fixedLike, rng, 50)) {
    assert.equal(length, 8);
    assert.deepEqual(Array.from(backwardScale ?? []), [0, 1, 1, 1, 1, 1, 1, 1]);
  }
});

test('no truncation makes the whole remaining stream one segment', () => {
  const schedule = new TruncationSchedule({ mode: 'none' }, 50);
  assert.equal(schedule.maxLength, 4096);
  assert.deepEqual(schedule.next(new Rng(10), 4096), { length: 4096, lrScale: 1, backwardScale: undefined });
  assert.equal(schedule.next(new Rng(10), 7).length, 7);
});

test('no truncation over the cap fails with RNNLM_SEQUENCE_TOO_LONG, also when checked up front', () => {
  const config: TruncationConfig = { mode: 'none', maxLength: 1000 };
  const schedule = new TruncationSchedule(config, 50);
  const tooLong = (err: unknown): boolean =>
    isRnnlmError(err, 'RNNLM_SEQUENCE_TOO_LONG') &&
    err.message.includes('1001') &&
    err.message.includes('1000') &&
    err.message.includes("'fixed'") &&
    err.details?.['maxLength'] === 1000;
  assert.throws(() => schedule.next(new Rng(11), 1001), tooLong);
  assert.throws(() => assertUntruncatedFits(1001, config), tooLong);
  assertUntruncatedFits(1000, config);
  assert.throws(
    () => assertUntruncatedFits(5000, { mode: 'none' }),
    (err) => isRnnlmError(err, 'RNNLM_SEQUENCE_TOO_LONG'),
  );
  assertUntruncatedFits(10_000_000, { mode: 'fixed' });
});

test('the same rng state gives the same segments', () => {
  const schedule = new TruncationSchedule({ mode: 'randomized' }, 30);
  const rng = new Rng(12);
  const state = rng.state();
  const first = draw(schedule, rng, 20);
  assert.deepEqual(draw(schedule, new Rng(state), 20), first);
});

test('invalid truncation settings are rejected naming the field', () => {
  const cases: [TruncationConfig, number, string][] = [
    [{ mode: 'fixed' }, 0, 'training.seqLength'],
    [{ mode: 'fixed' }, 2.5, 'training.seqLength'],
    [{ mode: 'bogus' as TruncationConfig['mode'] }, 10, 'training.truncation.mode'],
    [{ mode: 'variable', p: 1.5 }, 10, 'training.truncation.p'],
    [{ mode: 'variable', p: -0.1 }, 10, 'training.truncation.p'],
    [{ mode: 'variable', sigma: -1 }, 10, 'training.truncation.sigma'],
    [{ mode: 'variable', maxLength: 9 }, 10, 'training.truncation.maxLength'],
    [{ mode: 'randomized', minLength: 0 }, 10, 'training.truncation.minLength'],
    [{ mode: 'randomized', minLength: 11 }, 10, 'training.truncation.minLength'],
    [{ mode: 'randomized', maxLength: 9 }, 10, 'training.truncation.maxLength'],
    [{ mode: 'none', maxLength: 0 }, 10, 'training.truncation.maxLength'],
  ];
  for (const [config, seqLength, field] of cases) {
    assert.throws(
      () => new TruncationSchedule(config, seqLength),
      invalidField(field),
      JSON.stringify(config),
    );
  }
});
