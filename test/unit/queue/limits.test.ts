import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import { runConfigSchema, type RunConfig } from '../../../src/ml/config.js';
import { applyLimits, JOB_LIMITS, type JobLimits } from '../../../src/queue/limits.js';

const LIMITS: JobLimits & { RNNLM_CHECKPOINT_EVERY: number } = {
  RNNLM_MAX_VOCAB: 500,
  RNNLM_MAX_LAYERS: 3,
  RNNLM_MAX_HIDDEN: 64,
  RNNLM_MAX_EMBEDDING: 48,
  RNNLM_MAX_SEQ_LENGTH: 100,
  RNNLM_MAX_BATCH: 16,
  RNNLM_MAX_STEPS: 1000,
  RNNLM_CHECKPOINT_EVERY: 50,
};

/** A valid run configuration with `value` at the dot-separated `field`. */
function runWith(field: string, value: number): RunConfig {
  const request: Record<string, Record<string, unknown>> = {
    tokenizer: { type: 'bpe' },
    model: { layers: 1, hiddenSize: 16, embeddingSize: 16 },
    training: { seqLength: 10, batchSize: 4, evalBatchSize: 4, truncation: { mode: 'none' } },
  };
  const [section = '', ...rest] = field.split('.');
  let at = (request[section] ??= {});
  for (const key of rest.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
  at[rest.at(-1) ?? ''] = value;
  return runConfigSchema.parse(request);
}

test('every limit refuses one over its maximum with RNNLM_INVALID_CONFIG naming the field, and takes the maximum', () => {
  for (const { field, setting } of JOB_LIMITS) {
    const max = LIMITS[setting];
    assert.doesNotThrow(() => applyLimits(LIMITS, runWith(field, max)), field);
    assert.throws(
      () => applyLimits(LIMITS, runWith(field, max + 1)),
      (err) =>
        isRnnlmError(err, 'RNNLM_INVALID_CONFIG') &&
        err.details?.field === field &&
        err.message === `${field}: ${max + 1} is over the limit of ${max}`,
      field,
    );
  }
});

test('of several fields over their limits the first in the table is named', () => {
  const run = runWith('training.maxSteps', 5000);
  run.model.layers = 9;
  assert.throws(
    () => applyLimits(LIMITS, run),
    (err) => isRnnlmError(err) && err.details?.field === 'model.layers',
  );
});

test('a run within the limits gets the default checkpoint interval and nothing capped', () => {
  const run = runWith('model.hiddenSize', 32);
  const applied = applyLimits(LIMITS, run);
  assert.equal(applied.training.checkpointEvery, 50);
  assert.deepEqual(
    { ...applied, training: { ...applied.training, checkpointEvery: undefined } },
    {
      ...run,
      training: { ...run.training, checkpointEvery: undefined },
    },
  );
  const own = applyLimits(LIMITS, { ...run, training: { ...run.training, checkpointEvery: 7 } });
  assert.equal(own.training.checkpointEvery, 7);
});
