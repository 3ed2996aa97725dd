/**
 * Item 3 and the graceful-shutdown protection: src/main.ts stopped with SIGTERM takes no new
 * job, checkpoints and hands back the running one, and exits within its grace period
 * (RNNLM_SHUTDOWN_TIMEOUT_MS), even when Redis is gone and BullMQ's close would wait for it
 * forever; the next worker finishes the job from the checkpoint.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { RedisServer } from '../helpers/redis-server.js';
import {
  alive,
  eventsUntil,
  finished,
  jobServiceEnv,
  startMain,
  startWorkerProcess,
  statuses,
  tinyRequest,
  trainerPid,
  waitFor,
} from './harness.js';

test('3. SIGTERM during training: no new job starts, the process exits in its grace period, the next worker finishes the job from its checkpoint', async (t) => {
  const { env, jobs } = await jobServiceEnv(t, { RNNLM_SHUTDOWN_TIMEOUT_MS: '10000' });
  const main = await startMain(env, 'worker');
  assert.match(main.out.stdout, /started \(role: worker\)/);
  assert.match(main.out.stdout, /backend\s+\w+/);
  assert.match(main.out.stdout, /redis\s+redis:\/\/127\.0\.0\.1:6379/);
  assert.ok(main.out.stdout.includes(join(env.dataDir, 'models')));

  // checkpointEvery alone would not checkpoint before the SIGTERM; the shutdown must.
  // Long enough, and with patience that never runs out, to be still training at the SIGTERM.
  const running = await jobs.submit(
    tinyRequest({ epochs: 1000, maxSteps: 3000, checkpointEvery: 100_000, earlyStoppingPatience: 1_000_000 }),
  );
  const next = await jobs.submit(tinyRequest());
  const a = running.job.id;
  const b = next.job.id;
  await eventsUntil(jobs, a, (e) => e.type === 'progress' && Number(e.data.step) >= 2, 60_000, 'training');

  const stoppedAt = Date.now();
  main.child.kill('SIGTERM');
  const exit = await main.exited;
  const tookMs = Date.now() - stoppedAt;
  assert.deepEqual(exit, { code: 0, signal: null }, main.out.stderr);
  assert.ok(tookMs < 10_000, `exited after ${tookMs} ms`);

  // The running job was handed back with a checkpoint, without using up an attempt ...
  assert.equal((await jobs.get(a))?.status, 'queued');
  assert.ok(existsSync(join(env.dataDir, 'checkpoints', a, 'checksums.json')));
  assert.equal((await jobs.queue.getJob(a))?.attemptsMade, 0);
  const handedBack = (await jobs.events(a)).slice(-2);
  assert.match(String(handedBack[0]?.data.message), /handed back at step \d+/);
  // ... and the waiting one never started.
  assert.deepEqual(statuses(await jobs.events(b)), ['queued']);
  assert.equal(await (await jobs.queue.getJob(b))?.getState(), 'waiting');

  await startWorkerProcess(env);
  const [doneA, doneB] = await Promise.all([finished(jobs, a, 90_000), finished(jobs, b, 90_000)]);
  assert.equal(doneA.status, 'succeeded', JSON.stringify(doneA.error));
  assert.equal(doneA.progress.step, 3000);
  assert.equal(doneB.status, 'succeeded', JSON.stringify(doneB.error));
  const events = await jobs.events(a);
  const resumed = events.find((e) => e.type === 'log' && e.data.resumedFrom !== undefined);
  assert.ok(Number(resumed?.data.resumedFrom) >= 2, 'resumed from the shutdown checkpoint');
  assert.deepEqual(statuses(events).slice(0, 3), ['queued', 'running', 'queued']);
});

test('3. SIGTERM with Redis gone: a process serving the API and training still exits within its grace period, its checkpoint on disk', async (t) => {
  const redis = await RedisServer.start(t);
  const { env, jobs } = await jobServiceEnv(t, { REDIS_URL: redis.url, RNNLM_SHUTDOWN_TIMEOUT_MS: '3000' });
  const main = await startMain(env, 'all');

  const { job } = await jobs.submit(
    tinyRequest({ epochs: 1000, maxSteps: 100_000, checkpointEvery: 100_000 }),
  );
  const events = await eventsUntil(
    jobs,
    job.id,
    (e) => e.type === 'progress' && Number(e.data.step) >= 2,
    60_000,
    'training',
  );
  const trainer = trainerPid(events);
  await redis.stop();

  const stoppedAt = Date.now();
  main.child.kill('SIGTERM');
  const exit = await main.exited;
  const tookMs = Date.now() - stoppedAt;
  assert.equal(exit.signal, null, 'it exited by itself');
  assert.ok(tookMs < 4500, `exited ${tookMs} ms after SIGTERM with a 3000 ms grace period`);
  // Its training child does not outlive it, and left a checkpoint to resume from.
  await waitFor(
    () => Promise.resolve(alive(trainer)),
    (a) => !a,
    5000,
    'the trainer to exit',
  );
  assert.ok(existsSync(join(env.dataDir, 'checkpoints', job.id, 'checksums.json')));
});
