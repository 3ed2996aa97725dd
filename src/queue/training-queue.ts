/**
 * The training queue's name, its default job options and the Redis keys the service keeps
 * beside BullMQ's. Every key starts with the configured prefix, so several deployments (or
 * test runs) can share one Redis.
 */
import { Queue, type DefaultJobOptions } from 'bullmq';
import type { Redis } from 'ioredis';

import type { Config } from '../config.js';
import { errors } from '../errors.js';
import type {
  JobEngine,
  JobEventType,
  JobMetrics,
  JobProgress,
  StopReason,
  TrainingJobData,
} from './contracts.js';

export const TRAINING_QUEUE = 'training';

/** How long finished jobs, their records and their event streams are kept. */
export const JOB_RETENTION_SECONDS = 7 * 24 * 3600;

/** Approximate cap on the events kept per job (XADD MAXLEN ~). */
export const EVENTS_MAXLEN = 10_000;

/** Why the training of a job was told to stop (the abort reason the processor sees). */
export const STOP_CANCELLED = 'cancelled';
export const STOP_SHUTDOWN = 'shutdown';

/** What a finished job returns (BullMQ `returnvalue`). */
export interface TrainingResult {
  modelId: string;
  metrics: JobMetrics;
  backend: string;
  /** Absent from jobs finished before it was recorded. */
  engine?: JobEngine | undefined;
  steps: number;
  /** Absent from jobs finished before it was recorded. */
  stopReason?: StopReason | undefined;
}

/** The progress object a running job reports through `updateProgress`. */
export type TrainingProgress = JobProgress & JobMetrics & { backend: string; engine: JobEngine };

/** The job service reads the ids from here; their home is src/ids.ts. */
export { isJobId, newJobId } from '../ids.js';

/** The service's own Redis keys for one deployment (`prefix`). */
export interface ServiceKeys {
  /** Sorted set of job ids scored by creation time (ms). */
  index: string;
  /** Idempotency key (hashed) → job id. */
  idempotency(keyHash: string): string;
  /** Hash: the job's request data, cancel flag and finish times. */
  record(jobId: string): string;
  /** Stream of the job's events. */
  events(jobId: string): string;
  /** Pub/sub channel on which job ids to cancel are announced. */
  cancelChannel: string;
}

export function serviceKeys(prefix: string): ServiceKeys {
  const base = `${prefix}:${TRAINING_QUEUE}:svc`;
  return {
    index: `${base}:index`,
    idempotency: (keyHash) => `${base}:idem:${keyHash}`,
    record: (jobId) => `${base}:job:${jobId}`,
    events: (jobId) => `${base}:events:${jobId}`,
    cancelChannel: `${base}:cancel`,
  };
}

/** Attempts from config, exponential backoff, finished jobs kept for a week. */
export function defaultJobOptions(config: Pick<Config, 'RNNLM_JOB_ATTEMPTS'>): DefaultJobOptions {
  return {
    attempts: config.RNNLM_JOB_ATTEMPTS,
    backoff: { type: 'exponential', delay: 5000 },
    removeOnComplete: { age: JOB_RETENTION_SECONDS },
    removeOnFail: { age: JOB_RETENTION_SECONDS },
  };
}

export type TrainingQueue = Queue<TrainingJobData, TrainingResult>;

/** The producer side of the queue, on a connection the caller owns. */
export function createTrainingQueue(
  config: Pick<Config, 'RNNLM_QUEUE_PREFIX' | 'RNNLM_JOB_ATTEMPTS'>,
  connection: Redis,
): TrainingQueue {
  return new Queue<TrainingJobData, TrainingResult>(TRAINING_QUEUE, {
    connection,
    prefix: config.RNNLM_QUEUE_PREFIX,
    defaultJobOptions: defaultJobOptions(config),
  });
}

/** `RNNLM_X: message` ↔ `{ code, message }`: how a coded error survives BullMQ's failedReason. */
export function encodeError(code: string, message: string): string {
  return `${code}: ${message}`;
}

export function decodeError(reason: string): { code: string; message: string } {
  const m = /^(RNNLM_[A-Z0-9_]+): ([\s\S]*)$/.exec(reason);
  if (m !== null) return { code: m[1] as string, message: m[2] as string };
  // BullMQ's words for a sandboxed processor that died without reporting (killed, OOM).
  const exit = /^Unexpected exit code: (\S+) signal: (\S+)$/.exec(reason);
  if (exit !== null) {
    const { code, message } = errors.trainerDied(exit[1] as string, exit[2] as string);
    return { code, message };
  }
  return { code: 'RNNLM_INTERNAL', message: reason };
}

/** Appends one event to a job's stream (capped) and returns its id. */
export async function appendEvent(
  redis: Redis,
  keys: ServiceKeys,
  jobId: string,
  type: JobEventType,
  data: Record<string, unknown>,
): Promise<string> {
  const id = await redis.xadd(
    keys.events(jobId),
    'MAXLEN',
    '~',
    String(EVENTS_MAXLEN),
    '*',
    'type',
    type,
    'data',
    JSON.stringify(data),
  );
  return id ?? '';
}

/** Starts the retention clock of a finished job's record and event stream. */
export async function expireJob(redis: Redis, keys: ServiceKeys, jobId: string): Promise<void> {
  await redis
    .multi()
    .expire(keys.record(jobId), JOB_RETENTION_SECONDS)
    .expire(keys.events(jobId), JOB_RETENTION_SECONDS)
    .exec();
}
