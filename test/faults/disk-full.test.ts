/**
 * Item 7 of issue 14: the data volume fills up. This is a real full file system: a 4 MB tmpfs
 * mounted for the test (it needs root, or CAP_SYS_ADMIN, and is skipped without it), filled
 * to the last byte with a file. POST /jobs answers 507 RNNLM_DISK_FULL with a message about
 * disk space; a training job that cannot write its checkpoint waits for space without using
 * up its attempts, then finishes once space is freed, leaving nothing half-written.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

import {
  CORPUS,
  eventsUntil,
  finished,
  jobServiceEnv,
  modelsOnDisk,
  startMain,
  startWorkerProcess,
  tinyRequest,
  waitFor,
} from './harness.js';

const run = promisify(execFile);

/** Writes zeros to `file` until the file system refuses with ENOSPC. */
async function fill(file: string): Promise<void> {
  const handle = await open(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) await handle.write(chunk);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
}

test('7. a full disk: POST /jobs is a 507 RNNLM_DISK_FULL, and a training job waits for space without using attempts', async (t) => {
  const mount = await mkdtemp(join(tmpdir(), 'rnnlm-full-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
  } catch (err) {
    await rm(mount, { recursive: true, force: true });
    t.skip(`cannot mount a tmpfs here: ${(err as Error).message}`);
    return;
  }
  const { env, jobs } = await jobServiceEnv(t, { RNNLM_DATA_DIR: mount, RNNLM_DISK_FULL_RETRY_MS: '500' });
  // Runs after the processes are killed (deferred closers run newest first).
  env.defer(async () => {
    await run('umount', [mount]);
    await rm(mount, { recursive: true, force: true });
  });
  for (const dir of ['models', 'corpora', 'checkpoints']) await mkdir(join(mount, dir), { recursive: true });
  const api = await startMain(env, 'api');
  assert.ok(api.url !== undefined, api.out.stdout);
  // Queued while there was space; its checkpoints and model will find none.
  const { job } = await jobs.submit(tinyRequest({ maxSteps: 60, checkpointEvery: 10 }));
  const corporaBefore = await readdir(join(mount, 'corpora'));
  const filler = join(mount, 'filler');
  await fill(filler);

  const res = await fetch(`${api.url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...tinyRequest(), corpus: { text: `${CORPUS} another corpus` } }),
  });
  const answer = (await res.json()) as { code: string; message: string };
  assert.equal(res.status, 507, JSON.stringify(answer));
  assert.equal(answer.code, 'RNNLM_DISK_FULL');
  assert.match(answer.message, /disk space/);
  assert.deepEqual(await readdir(join(mount, 'corpora')), corporaBefore, 'no partial corpus left');

  await startWorkerProcess(env);
  const isWait = (e: { type: string; data: Record<string, unknown> }) =>
    e.type === 'log' && e.data.code === 'RNNLM_DISK_FULL';
  const events = await eventsUntil(jobs, job.id, isWait, 60_000, 'the job to wait for disk space');
  const waiting = events.find(isWait);
  assert.match(String(waiting?.data.message), /disk space/);
  assert.doesNotMatch(String(waiting?.data.message), new RegExp(mount));
  // Several rounds of waiting later it has still not failed, nor used up an attempt.
  await waitFor(
    () => jobs.events(job.id),
    (all) => all.filter(isWait).length >= 3,
    60_000,
    'three rounds of waiting for disk space',
  );
  // Between waits it tries again (running until its next checkpoint write), so either status.
  const during = await jobs.get(job.id);
  assert.ok(during?.status === 'queued' || during?.status === 'running', JSON.stringify(during));
  assert.equal((await jobs.queue.getJob(job.id))?.attemptsMade, 0, 'no attempt used up');
  assert.ok((await jobs.events(job.id)).filter(isWait).length >= 3, 'it kept waiting');

  await rm(filler);
  const done = await finished(jobs, job.id, 60_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.ok(((await jobs.queue.getJob(job.id))?.attemptsMade ?? 0) <= 1, 'one attempt in all');
  assert.deepEqual(await modelsOnDisk(join(mount, 'models')), { models: [done.modelId], other: [] });
  assert.deepEqual(await readdir(join(mount, 'checkpoints')), [], 'no checkpoint or temporary left');
});
