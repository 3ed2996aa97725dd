import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';

import { childEnv, loadConfig, parseHostPort } from '../../src/config.js';

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

test('REDIS_SENTINELS is a list of host:port pairs; one that is not is refused by name', () => {
  const config = loadConfig({ REDIS_SENTINELS: ' s1:26379, 10.0.0.2:26380 ,[::1]:26381' });
  assert.deepEqual(config.REDIS_SENTINELS, ['s1:26379', '10.0.0.2:26380', '[::1]:26381']);
  assert.equal(config.REDIS_SENTINEL_NAME, 'mymaster');
  assert.equal(config.REDIS_URL_GIVEN, true, 'a configured Sentinel means no embedded Redis');
  assert.deepEqual(loadConfig({}).REDIS_SENTINELS, []);
  assert.deepEqual(loadConfig({ REDIS_SENTINELS: '' }).REDIS_SENTINELS, [], 'empty is unset');
  for (const bad of ['s1', 's1:0', 's1:70000', 's1:26379,:1', 'a b:1', '::1:26379']) {
    assert.throws(() => loadConfig({ REDIS_SENTINELS: bad }), /REDIS_SENTINELS/, bad);
  }
  assert.deepEqual(parseHostPort('[fe80::1]:6379'), { host: 'fe80::1', port: 6379 });
});

test('Redis TLS switches take true/false words, and anything else is refused by name', () => {
  assert.equal(loadConfig({ REDIS_TLS: 'true', REDIS_SENTINEL_TLS: '1' }).REDIS_TLS, true);
  assert.equal(loadConfig({ REDIS_SENTINEL_TLS: 'yes' }).REDIS_SENTINEL_TLS, true);
  assert.equal(loadConfig({}).REDIS_TLS, false);
  assert.throws(() => loadConfig({ REDIS_TLS: 'maybe' }), /REDIS_TLS/);
});

test('the job lock defaults put a dead worker’s job back in the queue within 12.5 s; a renewal not shorter than the lock is refused', () => {
  const config = loadConfig({});
  assert.equal(config.RNNLM_JOB_LOCK_MS + config.RNNLM_STALLED_CHECK_MS, 12_500);
  assert.ok(config.RNNLM_JOB_LOCK_RENEW_MS < config.RNNLM_JOB_LOCK_MS);
  assert.throws(
    () => loadConfig({ RNNLM_JOB_LOCK_MS: '5000', RNNLM_JOB_LOCK_RENEW_MS: '5000' }),
    /RNNLM_JOB_LOCK_RENEW_MS: must be less than RNNLM_JOB_LOCK_MS/,
  );
  assert.throws(
    () => loadConfig({ RNNLM_DRAIN_DELAY_MS: '30000', RNNLM_SHUTDOWN_TIMEOUT_MS: '30000' }),
    /RNNLM_DRAIN_DELAY_MS/,
  );
});

test('childEnv hands a child the same Redis settings, lists and switches included, and unsets what is unset', () => {
  const config = loadConfig({
    REDIS_SENTINELS: 's1:26379,s2:26379',
    REDIS_SENTINEL_NAME: 'prod',
    REDIS_PASSWORD: 'secret',
    REDIS_TLS: 'true',
    RNNLM_JOB_LOCK_MS: '9000',
  });
  const saved = process.env.REDIS_SENTINEL_PASSWORD;
  process.env.REDIS_SENTINEL_PASSWORD = 'inherited';
  try {
    const env = childEnv(config);
    assert.equal(env.REDIS_SENTINEL_PASSWORD, undefined);
    const again = loadConfig(env);
    for (const key of [
      'REDIS_SENTINELS',
      'REDIS_SENTINEL_NAME',
      'REDIS_PASSWORD',
      'REDIS_TLS',
      'RNNLM_JOB_LOCK_MS',
    ] as const) {
      assert.deepEqual(again[key], config[key], key);
    }
  } finally {
    if (saved === undefined) delete process.env.REDIS_SENTINEL_PASSWORD;
    else process.env.REDIS_SENTINEL_PASSWORD = saved;
  }
});
