/**
 * src/main.ts as a process: it refuses to start without Redis (and says how to get one), and
 * a worker stopped with SIGTERM hands its running job back and exits cleanly.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { childEnv } from '../../../src/config.js';
import { RedisJobService } from '../../../src/queue/job-service.js';
import { testEnv, tinyRequest, waitFor } from '../queue/harness.js';

const MAIN = fileURLToPath(new URL('../../../src/main.ts', import.meta.url));

function start(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out.stderr += s));
  return { child, out };
}

test('without Redis it says so, how to start one, and exits non-zero', async (t) => {
  const env = await testEnv(t, { REDIS_URL: 'redis://127.0.0.1:1', RNNLM_ROLE: 'worker' });
  const { child, out } = start(childEnv(env.config));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1);
  assert.match(out.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  assert.match(out.stderr, /redis-server --daemonize yes/);
  assert.match(out.stderr, /docker compose up -d redis/);
});

test('a worker process prints its setup and, on SIGTERM, hands its job back and exits 0', async (t) => {
  const env = await testEnv(t, { RNNLM_ROLE: 'worker', RNNLM_LOG_LEVEL: 'silent' });
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  await jobs.ready();
  const { child, out } = start(childEnv(env.config));
  env.defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await waitFor(
    () => Promise.resolve(out.stdout),
    (s) => s.includes('models'),
    30_000,
    'the start-up lines',
  );
  assert.match(out.stdout, /started \(role: worker\)/);
  assert.match(out.stdout, /backend\s+\w+/);
  assert.match(out.stdout, /redis\s+redis:\/\/127\.0\.0\.1:6379/);
  assert.ok(out.stdout.includes(join(env.dataDir, 'models')));

  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 100_000, checkpointEvery: 1000 }));
  await waitFor(
    () => jobs.events(job.id),
    (es) => es.some((e) => e.type === 'progress' && Number(e.data.step) >= 2),
    30_000,
    'training to start',
  );
  const stoppedAt = Date.now();
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, out.stderr);
  assert.ok(Date.now() - stoppedAt < 15_000);
  const after = await jobs.get(job.id);
  assert.equal(after?.status, 'queued');
  // The checkpoint made on the way out (checkpointEvery alone would not have made one yet).
  assert.ok(existsSync(join(env.dataDir, 'checkpoints', job.id, 'checksums.json')));
});
