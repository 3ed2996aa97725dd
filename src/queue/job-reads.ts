/**
 * Reading jobs as the API shows them: one job through BullMQ's own calls, or a page of jobs in
 * one pipeline that reads the same hashes and sets BullMQ reads.
 */
import type { Job as BullJob, JobState } from 'bullmq';
import type { Redis } from 'ioredis';

import type { Job, TrainingJobData } from './contracts.js';
import { jobView, parseRecord, type BullJobFacts, type JobRecord } from './job-records.js';
import { isJobId, type ServiceKeys, type TrainingQueue, type TrainingResult } from './training-queue.js';

/** The Redis connection, the service's keys and the BullMQ queue the job modules work on. */
export interface JobStore {
  redis: Redis;
  keys: ServiceKeys;
  queue: TrainingQueue;
}

/** The service's record of a job; undefined when it has none (never submitted, or expired). */
export async function readRecord(store: JobStore, id: string): Promise<JobRecord | undefined> {
  return parseRecord(await store.redis.hgetall(store.keys.record(id)));
}

/**
 * A job's BullMQ job and state; `unknown` once BullMQ no longer has it. The state is read
 * first: BullMQ moves a job to `completed` in the same script that stores its return value,
 * so a job read after its state says `completed` always has its result (read the other way
 * round, a job finishing in between showed `completed` without its model).
 */
export async function readBullJob(
  store: JobStore,
  id: string,
): Promise<{ job: BullJob<TrainingJobData, TrainingResult> | undefined; state: JobState | 'unknown' }> {
  const state = await store.queue.getJobState(id);
  const job = await store.queue.getJob(id);
  if (job === undefined) return { job, state: 'unknown' };
  return { job, state: state === 'unknown' ? await job.getState() : state };
}

/** One job as the API shows it; undefined for an id the service has no record of. */
export async function readJob(store: JobStore, id: string): Promise<Job | undefined> {
  const record = await readRecord(store, id);
  if (record === undefined) return undefined;
  const { job, state } = await readBullJob(store, id);
  return jobView(id, record, job, state);
}

/**
 * BullMQ's job lists and sets in the order its `getState` script looks a job up, each with
 * the state it means there.
 */
const STATE_LOOKUPS = [
  { key: 'completed', kind: 'zset', state: 'completed' },
  { key: 'failed', kind: 'zset', state: 'failed' },
  { key: 'delayed', kind: 'zset', state: 'delayed' },
  { key: 'prioritized', kind: 'zset', state: 'prioritized' },
  { key: 'active', kind: 'list', state: 'active' },
  { key: 'wait', kind: 'list', state: 'waiting' },
  { key: 'paused', kind: 'list', state: 'waiting' },
  { key: 'waiting-children', kind: 'zset', state: 'waiting-children' },
] as const satisfies readonly { key: string; kind: 'zset' | 'list'; state: JobState }[];

/**
 * Commands per job in {@link readJobs}' pipeline: its record, each state lookup, then its
 * BullMQ hash (after the lookups, for the reason {@link readBullJob} reads the state first).
 */
const COMMANDS_PER_JOB = 2 + STATE_LOOKUPS.length;

/** The fields of a BullMQ job hash the view reads, parsed as BullMQ's `Job.fromJSON` parses them. */
function bullJobFacts(hash: Record<string, string>): BullJobFacts {
  let returnvalue: TrainingResult | null | undefined = null;
  if (hash.returnvalue !== undefined) {
    try {
      returnvalue = JSON.parse(hash.returnvalue) as TrainingResult;
    } catch {
      // BullMQ reads a corrupt return value as none.
      returnvalue = undefined;
    }
  }
  const time = (value: string | undefined) => (value ? Number.parseInt(value, 10) || undefined : undefined);
  return {
    progress: JSON.parse(hash.progress || '0') as unknown,
    returnvalue,
    failedReason: hash.failedReason || undefined,
    processedOn: time(hash.processedOn),
    finishedOn: time(hash.finishedOn),
  };
}

/**
 * The jobs of `ids` as {@link readJob} would read them one by one, in one round trip: a
 * pipeline of each job's record, its BullMQ hash and the lookups of BullMQ's `getState`.
 * undefined where the service has no record of the id.
 */
export async function readJobs(store: JobStore, ids: readonly string[]): Promise<(Job | undefined)[]> {
  const wanted = ids.filter(isJobId);
  if (wanted.length === 0) return ids.map(() => undefined);
  const { redis, keys, queue } = store;
  const pipeline = redis.pipeline();
  for (const id of wanted) {
    pipeline.hgetall(keys.record(id));
    for (const { key, kind } of STATE_LOOKUPS) {
      if (kind === 'zset') pipeline.zscore(queue.toKey(key), id);
      else pipeline.lpos(queue.toKey(key), id);
    }
    pipeline.hgetall(queue.toKey(id));
  }
  const replies = (await pipeline.exec()) ?? [];
  const results = replies.map(([err, value]) => {
    if (err !== null) throw err;
    return value;
  });
  const views = new Map<string, Job | undefined>();
  wanted.forEach((id, i) => {
    const own = results.slice(i * COMMANDS_PER_JOB, (i + 1) * COMMANDS_PER_JOB);
    const recordHash = own[0];
    const lookups = own.slice(1, 1 + STATE_LOOKUPS.length);
    const bullHash = own[1 + STATE_LOOKUPS.length];
    const record = parseRecord(recordHash as Record<string, string>);
    if (record === undefined) return;
    const hash = bullHash as Record<string, string>;
    if (Object.keys(hash).length === 0) {
      views.set(id, jobView(id, record, undefined, 'unknown'));
      return;
    }
    const found = STATE_LOOKUPS.findIndex((_, at) => lookups[at] !== null);
    const state = found === -1 ? 'unknown' : (STATE_LOOKUPS[found]?.state ?? 'unknown');
    views.set(id, jobView(id, record, bullJobFacts(hash), state));
  });
  return ids.map((id) => views.get(id));
}
