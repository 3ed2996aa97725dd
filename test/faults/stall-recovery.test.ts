/**
 * How soon a dead worker's job runs again, and that a live one's never does early. With the
 * deployed lock settings (RNNLM_JOB_LOCK_MS 10 s, renewed within 2.5 s, stall check every 2.5 s) a
 * worker killed mid-job has its job running on the idle worker within 30 s. A training child
 * that holds the processor far longer than the lock (frozen with SIGSTOP: a long step or a
 * checkpoint write that never yields) is not taken for stalled, because its worker process
 * renews the lock.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import type { JobEvent } from '../../src/queue/contracts.js';
import { TRAINING_QUEUE } from '../../src/queue/training-queue.js';
import {
  DEFAULT_LOCK,
  eventsUntil,
  finished,
  jobServiceEnv,
  SHORT_LOCK,
  startWorkerProcess,
  statuses,
  tinyRequest,
  trainerPid,
  waitFor,
  type Proc,
} from './harness.js';

const RECOVERY_BOUND_MS = 30_000;

/** The parent of process `pid` (field 4 of /proc/<pid>/stat). */
function parentPid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** When Redis wrote the event: its stream id is `<ms>-<seq>`. */
function writtenAt(event: JobEvent | undefined): number {
  return Number(event?.id.split('-')[0]);
}

const runs = (events: JobEvent[]) => events.filter((e) => e.type === 'status' && e.data.status === 'running');

test('a worker killed mid-job with the deployed lock settings: its job runs again on the idle worker within 30 s', async (t) => {
  const { env, jobs } = await jobServiceEnv(t);
  const workers = await Promise.all([0, 1].map(() => startWorkerProcess(env, DEFAULT_LOCK)));
  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 1_000_000, checkpointEvery: 20 }));
  const before = await eventsUntil(jobs, job.id, (e) => e.type === 'checkpoint', 60_000, 'a checkpoint');
  const holder = workers.find((w) => w.child.pid === parentPid(trainerPid(before)));
  const idle = workers.find((w) => w !== holder);
  assert.ok(holder !== undefined && idle !== undefined, 'one of the two workers trains the job');

  const killedAt = Date.now();
  holder.child.kill('SIGKILL');
  await holder.exited;
  const after = await eventsUntil(
    jobs,
    job.id,
    (e) => runs([e]).length > 0 && writtenAt(e) > killedAt,
    60_000,
    'a second run',
  );
  const runningAgainMs = writtenAt(runs(after).at(-1)) - killedAt;
  const bull = await jobs.queue.getJob(job.id);
  const activeAgainMs = Number(bull?.processedOn) - killedAt;

  t.diagnostic(
    `worker killed: job active again on the idle worker after ${activeAgainMs} ms, its training child running after ${runningAgainMs} ms`,
  );

  assert.equal(parentPid(trainerPid(after, 1)), idle.child.pid, 'the idle worker took it');
  assert.equal(bull?.stalledCounter, 1);
  assert.ok(runningAgainMs <= RECOVERY_BOUND_MS, `running again ${runningAgainMs} ms after the kill`);
  await jobs.cancel(job.id);
  assert.equal((await finished(jobs, job.id)).status, 'cancelled');
});

test('a training child frozen for four lock durations, an idle worker standing by: no stall, the job runs once', async (t) => {
  const { env, jobs } = await jobServiceEnv(t);
  const lockMs = Number(SHORT_LOCK.RNNLM_JOB_LOCK_MS);
  const workers: Proc[] = await Promise.all([0, 1].map(() => startWorkerProcess(env)));
  const { job } = await jobs.submit(tinyRequest({ epochs: 1000, maxSteps: 200, checkpointEvery: 20 }));
  const events = await eventsUntil(jobs, job.id, (e) => e.type === 'progress', 60_000, 'training');
  const trainer = trainerPid(events);
  const lockKey = `${env.config.RNNLM_QUEUE_PREFIX}:${TRAINING_QUEUE}:${job.id}:lock`;

  // Frozen, the child neither steps nor writes nor answers; only its worker process is left to
  // keep the lock, and the other worker's stall checks (every second) look at it meanwhile.
  process.kill(trainer, 'SIGSTOP');
  const frozenAt = Date.now();
  let renewals = 0;
  let lastTtl = Infinity;
  try {
    await waitFor(
      async () => {
        const ttl = await env.redis.pttl(lockKey);
        if (ttl > lastTtl) renewals++;
        lastTtl = ttl;
        assert.ok(ttl > 0, `the lock expired ${Date.now() - frozenAt} ms into the freeze`);
        return Date.now() - frozenAt;
      },
      (frozenMs) => frozenMs >= 4 * lockMs,
      10 * lockMs,
      'four lock durations',
    );
  } finally {
    process.kill(trainer, 'SIGCONT');
  }
  assert.ok(renewals >= 3, `the lock was renewed ${renewals} times during the freeze`);

  const done = await finished(jobs, job.id, 90_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const all = await jobs.events(job.id);
  assert.deepEqual(statuses(all), ['queued', 'running', 'succeeded']);
  assert.equal((await jobs.queue.getJob(job.id))?.stalledCounter, 0);
  for (const worker of workers) assert.ok(worker.running());
});
