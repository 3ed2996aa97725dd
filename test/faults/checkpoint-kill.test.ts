/**
 * Workers and training children SIGKILLed while they write checkpoints. The checkpoint
 * writer's test hook (RNNLM_TEST_CHECKPOINT_PAUSE_MS) holds every write after its first file,
 * so each kill lands mid-write, with a half-written temporary directory on disk, every time.
 * Once the jobs have ended nothing temporary or moved aside is left under the data directory;
 * a sweep takes what jobs that ended after such a crash left, and nothing of a job that is
 * still running on another worker.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { watch } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { dataDirs } from '../../src/config.js';
import type { RedisJobService } from '../../src/queue/job-service.js';
import {
  alive,
  CORPUS,
  eventsUntil,
  finished,
  jobServiceEnv,
  modelsOnDisk,
  startWorkerProcess,
  tinyRequest,
  waitFor,
  type Proc,
  type TestEnv,
} from './harness.js';

/** Every path under `dir`, relative to it. */
async function tree(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = join(prefix, entry.name);
    out.push(rel);
    if (entry.isDirectory()) out.push(...(await tree(join(dir, entry.name), rel)));
  }
  return out.sort();
}

/** Temporary or moved-aside entries: `.x.tmp-<pid>-<random>`, `.x.old-…`, `.<sha>.<pid>.<random>.tmp`. */
const DEBRIS = /(^|\/)\.[^/]*(\.(tmp|old)-\d+-\w+|\.tmp)$/;

/** The parent process of `pid` (Linux): the worker process that forked a training child. */
async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

interface Write {
  jobId: string;
  /** The temporary directory's name; its writer's pid is in it. */
  tmp: string;
  writer: number;
}

/**
 * Calls `onWrite` for the first checkpoint write of each job as soon as its temporary
 * directory appears in checkpoints/ (`.<jobId>.tmp-<pid>-<random>`).
 */
function watchWrites(checkpoints: string, onWrite: (w: Write) => void): () => void {
  const seen = new Set<string>();
  const watcher = watch(checkpoints, (_event, name) => {
    const m = name === null ? null : /^\.(job_\w+)\.tmp-(\d+)-/.exec(name);
    if (m === null || name === null || seen.has(m[1]!)) return;
    seen.add(m[1]!);
    onWrite({ jobId: m[1]!, tmp: name, writer: Number(m[2]) });
  });
  return () => watcher.close();
}

/** Waits until `w`'s temporary directory holds its first file (the hook then holds the writer). */
async function halfWritten(checkpoints: string, w: Write): Promise<string[]> {
  return waitFor(
    () => readdir(join(checkpoints, w.tmp)).catch((): string[] => []),
    (files) => files.length > 0,
    30_000,
    `the first file of ${w.tmp}`,
  );
}

/** Waits for `w`'s writer to be gone, and checks that its checkpoint was never completed. */
async function diedMidWrite(jobs: RedisJobService, w: Write): Promise<void> {
  await waitFor(
    () => Promise.resolve(alive(w.writer)),
    (a) => !a,
    10_000,
    `writer ${w.writer} to die`,
  );
  // A completed write is announced as a `checkpoint` event.
  const events = await jobs.events(w.jobId);
  assert.deepEqual(
    events.filter((e) => e.type === 'checkpoint'),
    [],
    `${w.tmp} was killed mid-write`,
  );
}

function request(text: string, training: Record<string, unknown>) {
  return tinyRequest(training, { corpus: { text } });
}

/** Worker processes by pid, so a kill finds the one whose child writes. */
class Workers {
  readonly byPid = new Map<number, Proc>();
  constructor(private readonly env: TestEnv) {}

  async start(overrides: Record<string, string> = {}): Promise<Proc> {
    const proc = await startWorkerProcess(this.env, overrides);
    this.byPid.set(proc.child.pid!, proc);
    return proc;
  }

  /** SIGKILLs the worker process whose training child is `writer`. */
  async killParentOf(writer: number): Promise<void> {
    const worker = this.byPid.get(await parentOf(writer));
    assert.ok(worker !== undefined, `no worker of ours forked ${writer}`);
    worker.child.kill('SIGKILL');
    await worker.exited;
  }
}

/** Waits for the job to succeed; its one `succeeded` status event names its model. */
async function succeededOnce(jobs: RedisJobService, id: string): Promise<string> {
  const done = await finished(jobs, id, 240_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const events = await eventsUntil(jobs, id, (e) => e.type === 'status' && e.data.status === 'succeeded');
  const succeeded = events.filter((e) => e.type === 'status' && e.data.status === 'succeeded');
  assert.equal(succeeded.length, 1);
  return String(succeeded[0]?.data.modelId);
}

test('workers SIGKILLed mid-checkpoint: every job succeeds once, and nothing temporary or moved aside is left under the data directory', async (t) => {
  const { env, jobs } = await jobServiceEnv(t, { RNNLM_TEST_CHECKPOINT_PAUSE_MS: '3000' });
  const dirs = dataDirs(env.config);
  await mkdir(dirs.checkpoints, { recursive: true });
  const workers = new Workers(env);
  await Promise.all([workers.start(), workers.start()]);

  // Each job's first checkpoint write: its worker is killed while the write is held after its
  // first file, and a new worker takes the dead one's place.
  const kills: Promise<Write>[] = [];
  const stop = watchWrites(dirs.checkpoints, (w) => {
    kills.push(
      (async () => {
        await halfWritten(dirs.checkpoints, w);
        await workers.killParentOf(w.writer);
        await diedMidWrite(jobs, w);
        // Left half-written until a later write or the job's end sweeps it.
        assert.deepEqual(await readdir(join(dirs.checkpoints, w.tmp)), ['state.json']);
        await workers.start();
        return w;
      })(),
    );
  });
  t.after(stop);

  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    const { job } = await jobs.submit(request(`${CORPUS}\n${n}`, { maxSteps: 20, checkpointEvery: 10 }));
    ids.push(job.id);
  }
  const models = await Promise.all(ids.map((id) => succeededOnce(jobs, id)));
  stop();
  const killed = await Promise.all(kills);
  assert.deepEqual(killed.map((w) => w.jobId).sort(), [...ids].sort(), 'each job lost a worker mid-write');

  // One model per job, complete; no checkpoint, and no debris anywhere.
  assert.deepEqual(await modelsOnDisk(dirs.models), { models: [...models].sort(), other: [] });
  const left = await tree(dirs.root);
  assert.deepEqual(
    left.filter((p) => DEBRIS.test(p)),
    [],
  );
  assert.deepEqual(await readdir(dirs.checkpoints), []);
});

test('a job cancelled and one failed after their writers died mid-write leave nothing after the next sweep; a job running on another worker keeps all its files through it', async (t) => {
  const { env, jobs } = await jobServiceEnv(t, {
    // Every checkpoint write is held: the running job is mid-write throughout.
    RNNLM_TEST_CHECKPOINT_PAUSE_MS: '600000',
    RNNLM_JOB_ATTEMPTS: '1',
    // Older than this, whatever no running job owns is swept.
    RNNLM_DEBRIS_MAX_AGE_MS: '1000',
    RNNLM_SWEEP_INTERVAL_MS: '0',
  });
  const dirs = dataDirs(env.config);
  await mkdir(dirs.checkpoints, { recursive: true });
  const workers = new Workers(env);
  await Promise.all([workers.start(), workers.start()]);
  const writes = new Map<string, Promise<Write>>();
  const resolvers = new Map<string, (w: Write) => void>();
  const writeOf = (id: string) => {
    if (!writes.has(id)) writes.set(id, new Promise((resolve) => resolvers.set(id, resolve)));
    return writes.get(id)!;
  };
  const stop = watchWrites(dirs.checkpoints, (w) => {
    void writeOf(w.jobId);
    resolvers.get(w.jobId)?.(w);
  });
  t.after(stop);
  const training = { maxSteps: 1000, epochs: 1000, checkpointEvery: 2 };

  // Running: held mid-write on one worker to the end of the test.
  const runningText = `${CORPUS}\nrunning`;
  const { job: running } = await jobs.submit(request(runningText, training));
  const runningWrite = await writeOf(running.id);
  await halfWritten(dirs.checkpoints, runningWrite);

  // Failed: its training child killed mid-write, with no attempt left.
  const { job: failed } = await jobs.submit(request(`${CORPUS}\nfailed`, training));
  const failedWrite = await writeOf(failed.id);
  await halfWritten(dirs.checkpoints, failedWrite);
  process.kill(failedWrite.writer, 'SIGKILL');
  await diedMidWrite(jobs, failedWrite);
  assert.equal((await finished(jobs, failed.id, 30_000)).status, 'failed');

  // Cancelled: its worker killed mid-write; once the job is back in the queue, cancelled.
  const { job: cancelled } = await jobs.submit(request(`${CORPUS}\ncancelled`, training));
  const cancelledWrite = await writeOf(cancelled.id);
  await halfWritten(dirs.checkpoints, cancelledWrite);
  await workers.killParentOf(cancelledWrite.writer);
  await diedMidWrite(jobs, cancelledWrite);
  await waitFor(
    () => jobs.get(cancelled.id),
    (j) => j?.status === 'queued',
    30_000,
    'the job to go back to the queue',
  );
  assert.equal((await jobs.cancel(cancelled.id))?.status, 'cancelled');

  // The next sweep: a worker that starts now.
  const sweeper = await workers.start({ RNNLM_LOG_LEVEL: 'debug' });
  await waitFor(
    () => Promise.resolve(sweeper.out.stdout),
    (s) => s.includes('data directory swept'),
    30_000,
    'the sweep at start',
  );

  // What is left is the running job's: its half-written checkpoint (older than the age limit,
  // so only its state kept it) and its corpus, and nothing of the other two.
  assert.equal((await jobs.get(running.id))?.status, 'running');
  assert.deepEqual(await readdir(join(dirs.checkpoints, runningWrite.tmp)), ['state.json']);
  const left = await tree(dirs.root);
  assert.deepEqual(
    left.filter((p) => /^(checkpoints|models|corpora)\//.test(p)),
    [
      `checkpoints/${runningWrite.tmp}`,
      `checkpoints/${runningWrite.tmp}/state.json`,
      `corpora/${createHash('sha256').update(runningText).digest('hex')}.txt`,
    ].sort(),
  );
});
