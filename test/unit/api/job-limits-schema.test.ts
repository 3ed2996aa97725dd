import assert from 'node:assert/strict';
import { test } from 'node:test';

import { jobLimitsSchema } from '../../../src/api/schemas/jobs.js';
import { JOB_LIMITS, type JobLimits } from '../../../src/queue/limits.js';

const LIMITS: JobLimits = {
  RNNLM_MAX_VOCAB: 500,
  RNNLM_MAX_LAYERS: 3,
  RNNLM_MAX_HIDDEN: 64,
  RNNLM_MAX_EMBEDDING: 48,
  RNNLM_MAX_SEQ_LENGTH: 100,
  RNNLM_MAX_BATCH: 16,
  RNNLM_MAX_STEPS: 1000,
};

/** A request body with `value` at the dot-separated `field`. */
function bodyWith(field: string, value: number): Record<string, unknown> {
  const keys = field.split('.');
  let body: unknown = value;
  for (const key of keys.reverse()) body = { [key]: body };
  return body as Record<string, unknown>;
}

test('the request-time schema refuses the limits it checks with the schema wording, and passes the rest to the service', () => {
  const schema = jobLimitsSchema(LIMITS);
  for (const { field, setting, atRequest } of JOB_LIMITS) {
    const max = LIMITS[setting];
    assert.ok(schema.safeParse(bodyWith(field, max)).success, field);
    const over = schema.safeParse(bodyWith(field, max + 1));
    if (!atRequest) {
      assert.ok(over.success, `${field} is left to the job service`);
      continue;
    }
    assert.ok(!over.success, field);
    assert.deepEqual(
      over.error.issues.map((issue) => [issue.path.join('.'), issue.message]),
      [[field, `Too big: expected number to be <=${max}`]],
    );
  }
});

test('the request-time schema lists every field over its limit, in the order the API has always listed them', () => {
  const over = jobLimitsSchema(LIMITS).safeParse({
    training: { maxSteps: 5000, seqLength: 500, batchSize: 50 },
    model: { hiddenSize: 65, layers: 4 },
    tokenizer: { vocabSize: 501 },
  });
  assert.ok(!over.success);
  assert.deepEqual(
    over.error.issues.map((issue) => issue.path.join('.')),
    [
      'tokenizer.vocabSize',
      'model.layers',
      'model.hiddenSize',
      'training.batchSize',
      'training.seqLength',
      'training.maxSteps',
    ],
  );
});

test('the request-time schema leaves fields it does not limit, and their values, alone', () => {
  const body = {
    corpus: { text: 'x' },
    model: { cell: 'gru', hiddenSize: 8 },
    training: { learningRate: 1 },
  };
  assert.deepEqual(jobLimitsSchema(LIMITS).parse(body), body);
});
