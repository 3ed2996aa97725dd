import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';

import { loadConfig } from '../../src/config.js';

test('RNNLM_THREADS defaults to the cores shared among the concurrent jobs, at least one', () => {
  const cores = availableParallelism();
  assert.equal(loadConfig({}).RNNLM_THREADS, cores);
  assert.equal(
    loadConfig({ RNNLM_WORKER_CONCURRENCY: '2' }).RNNLM_THREADS,
    Math.max(1, Math.floor(cores / 2)),
  );
  assert.equal(loadConfig({ RNNLM_WORKER_CONCURRENCY: String(cores * 4) }).RNNLM_THREADS, 1);
});

test('RNNLM_THREADS set explicitly wins, and a value that is not a positive integer is refused by name', () => {
  assert.equal(loadConfig({ RNNLM_THREADS: '3', RNNLM_WORKER_CONCURRENCY: '8' }).RNNLM_THREADS, 3);
  for (const bad of ['0', '-1', '1.5', 'two']) {
    assert.throws(() => loadConfig({ RNNLM_THREADS: bad }), /RNNLM_THREADS/);
  }
});

test('RNNLM_INFERENCE_THREADS defaults to one thread and refuses a value that is not a positive integer by name', () => {
  assert.equal(loadConfig({}).RNNLM_INFERENCE_THREADS, 1);
  assert.equal(loadConfig({ RNNLM_INFERENCE_THREADS: '2' }).RNNLM_INFERENCE_THREADS, 2);
  for (const bad of ['0', '-1', '1.5', 'two']) {
    assert.throws(() => loadConfig({ RNNLM_INFERENCE_THREADS: bad }), /RNNLM_INFERENCE_THREADS/);
  }
});

test('the sweep runs every 10 minutes on leftovers an hour old by default; the checkpoint pause hook is off', () => {
  const config = loadConfig({});
  assert.equal(config.RNNLM_SWEEP_INTERVAL_MS, 600_000);
  assert.equal(config.RNNLM_DEBRIS_MAX_AGE_MS, 3_600_000);
  assert.equal(config.RNNLM_TEST_CHECKPOINT_PAUSE_MS, 0);
  assert.equal(loadConfig({ RNNLM_SWEEP_INTERVAL_MS: '0' }).RNNLM_SWEEP_INTERVAL_MS, 0);
  assert.throws(() => loadConfig({ RNNLM_DEBRIS_MAX_AGE_MS: '0' }), /RNNLM_DEBRIS_MAX_AGE_MS/);
  assert.throws(() => loadConfig({ RNNLM_SWEEP_INTERVAL_MS: '-1' }), /RNNLM_SWEEP_INTERVAL_MS/);
});
