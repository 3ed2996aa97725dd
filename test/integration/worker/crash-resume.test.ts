/**
 * A worker process killed mid-job (SIGKILL: no shutdown, no hand-back) loses its lock; another
 * worker takes the stalled job over and resumes it from the last checkpoint on disk.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { childEnv } from '../../../src/config.js';
import { RedisJobService } from '../../../src/queue/job-service.js';
import { TrainingWorker } from '../../../src/worker/training-worker.js';
import { testEnv, tinyRequest, waitFor } from '../queue/harness.js';

const WORKER = fileURLToPath(new URL('./worker-process.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('a crashed worker’s job resumes from its checkpoint on another worker', async (t) => {
  const env = await testEnv(t);
  const jobs = new RedisJobService({ config: env.config, logger: env.logger });
  env.defer(() => jobs.close());
  await jobs.ready();

  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: childEnv(env.config),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  env.defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => (output += chunk));
  await waitFor(
    () => Promise.resolve(output),
    (o) => o.includes('worker ready'),
    30_000,
    'the worker process',
  );

  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 300, checkpointEvery: 5 }));
  const events = await waitFor(
    () => jobs.events(job.id),
    (es) => es.some((e) => e.type === 'checkpoint'),
    60_000,
    'the first checkpoint',
  );
  const running = events.find((e) => e.type === 'status' && e.data.status === 'running');
  const trainerPid = Number(String(running?.data.worker).split(':').at(-1));
  assert.ok(trainerPid > 0 && alive(trainerPid));

  child.kill('SIGKILL');
  await once(child, 'exit');
  // The trainer child notices its worker is gone and stops writing to the job.
  await waitFor(
    () => Promise.resolve(alive(trainerPid)),
    (a) => !a,
    10_000,
    'the orphaned trainer to exit',
  );
  const killedAt = await jobs.get(job.id);
  assert.equal(killedAt?.status, 'running', 'the job still looks active until its lock expires');

  const rescuer = new TrainingWorker({
    config: env.config,
    logger: env.logger,
    lockDuration: 2000,
    stalledInterval: 1000,
  });
  env.defer(() => rescuer.close(10_000));
  const done = await waitFor(
    () => jobs.get(job.id),
    (j) => j !== undefined && ['succeeded', 'failed', 'cancelled'].includes(j.status),
    90_000,
    'the job to finish on the second worker',
  );
  assert.equal(done?.status, 'succeeded', JSON.stringify(done?.error));
  assert.equal(done?.progress.step, 300);

  const all = await jobs.events(job.id);
  const at = all.findIndex((e) => e.type === 'log' && e.data.resumedFrom !== undefined);
  assert.ok(at > 0, 'the second run resumed from a checkpoint');
  const resumedFrom = Number(all[at]?.data.resumedFrom);
  const savedBefore = all
    .slice(0, at)
    .filter((e) => e.type === 'checkpoint')
    .map((e) => Number(e.data.step));
  assert.ok(resumedFrom >= 5, `resumed from step ${resumedFrom}`);
  // The last checkpoint the first run reported (or one it wrote as it was dying).
  assert.ok(
    resumedFrom >= Math.max(...savedBefore),
    `resumed from ${resumedFrom}, saved ${savedBefore.join()}`,
  );
  // The first progress the second run reports is past the checkpoint, not step 1.
  const next = all.slice(at).find((e) => e.type === 'progress');
  assert.ok(Number(next?.data.step) > resumedFrom);
  const runs = all.filter((e) => e.type === 'status' && e.data.status === 'running');
  assert.equal(runs.length, 2);
  assert.notEqual(runs[0]?.data.worker, runs[1]?.data.worker);
});
