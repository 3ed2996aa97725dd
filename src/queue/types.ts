import type { Redis } from 'ioredis';

import type { RecurrentState } from '../ml/state.js';
import type { Job, JobEvent, JobRequest } from './contracts.js';
import type { JobListPage, JobListQuery } from './job-listing.js';
import type { TrainingQueue } from './training-queue.js';

/**
 * The seam between the API and the job queue: the API depends only on these interfaces, and
 * src/queue implements them against Redis. The model service's seam is src/contracts/models.ts.
 */

/** A training request whose corpus may arrive as raw bytes (multipart upload). */
export type SubmitInput = Omit<JobRequest, 'corpus' | 'validation'> & {
  corpus: { text: string } | { bytes: Uint8Array };
  validation?: { text: string } | { bytes: Uint8Array } | { fraction: number } | undefined;
};

/**
 * The job service's Redis, which every API instance of the deployment shares, lent to the API
 * for state of its own (the rate limit's counters).
 */
export interface SharedRedis {
  /** The deployment's key prefix: the API's keys live under it too. */
  readonly prefix: string;
  /**
   * Runs `work` on the service's connection unless Redis is known to be down; rejects with
   * RNNLM_REDIS_UNAVAILABLE when it is, or when no answer comes within `timeoutMs`.
   */
  run<T>(work: (redis: Redis) => Promise<T>, timeoutMs: number): Promise<T>;
}

/** Job counts by BullMQ state (finished jobs count while they are retained) and the jobs running now. */
export interface QueueStats {
  counts: Record<QueueState, number>;
  /** The latest progress each running job reported; null before its first report. */
  running: { id: string; tokensPerSecond: number | null }[];
}

/** The BullMQ states {@link QueueStats} counts. */
export const QUEUE_STATES = [
  'waiting',
  'prioritized',
  'delayed',
  'waiting-children',
  'active',
  'completed',
  'failed',
] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/** A job a worker finished for good, as {@link JobService.claimFinished} hands it out. */
export interface FinishedJob {
  id: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  /** From the start of its last attempt to its end; null when BullMQ no longer has the job. */
  durationSeconds: number | null;
}

export interface JobService {
  /** Validates limits, stores the corpus on disk, enqueues; the same idempotency key returns the first job with created=false. */
  submit(input: SubmitInput, idempotencyKey?: string): Promise<{ job: Job; created: boolean }>;
  get(id: string): Promise<Job | undefined>;
  list(query: JobListQuery): Promise<JobListPage>;
  /** Queued → removed and cancelled; running → its worker is told to stop; finished → RNNLM_JOB_FINISHED. undefined when unknown. */
  cancel(id: string): Promise<Job | undefined>;
  /** Events after `after` (exclusive; a stream id as sent in SSE `id:`), oldest first. */
  events(id: string, after?: string, limit?: number): Promise<JobEvent[]>;
  /** Like events(), but waits up to `timeoutMs` for new ones (XREAD BLOCK on its own connection). */
  waitForEvents(
    id: string,
    after: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<JobEvent[]>;
  /** Throws when Redis does not answer quickly. */
  ping(): Promise<void>;
  /** Redis's `maxmemory-policy`, `unknown` where CONFIG GET is refused. Optional: `/readyz` skips the check. */
  maxmemoryPolicy?(): Promise<string>;
  /** The Redis the API keeps its rate-limit counters in. Optional: without it the API does not rate-limit. */
  readonly shared?: SharedRedis | undefined;
  /** Read at each metrics scrape. Optional: without it the metrics leave the queue out. */
  queueStats?(): Promise<QueueStats>;
  /**
   * The jobs that finished (succeeded, failed or were cancelled while running) at or after
   * `since` (ms), each handed to exactly one caller across every API instance sharing the
   * store; `next` is the `since` of the following call. Optional, like {@link queueStats}.
   */
  claimFinished?(since: number): Promise<{ jobs: FinishedJob[]; next: number }>;
  /** The BullMQ queue behind the service, shown read-only at /admin/queues; absent: no board. */
  readonly queue?: TrainingQueue | undefined;
  close(): Promise<void>;
}

/** A kept state as the API lists it. */
export interface StateInfo {
  id: string;
  model: string;
  /** Tokens read and sampled since the zero state, over every request that led here. */
  tokens: number;
  /** What the state takes in the store. */
  bytes: number;
  createdAt: string;
  expiresAt: string;
}

/** A kept state, the model it belongs to (and that model's creation time), and the state. */
export interface StoredState {
  info: StateInfo;
  /** The `createdAt` of the model it was kept with: a model re-created under its id is another. */
  modelCreatedAt: string;
  state: RecurrentState;
}

/**
 * Recurrent states kept for later requests, shared by every API instance (implemented on
 * Redis by `RedisStateStore`, src/queue/state-store.ts).
 */
export interface StateStore {
  /** Keeps `state` of `model` (created at `modelCreatedAt`) under a new handle. */
  save(model: string, modelCreatedAt: string, state: RecurrentState): Promise<StateInfo>;
  /** undefined when it expired, was deleted or never was. */
  get(id: string): Promise<StoredState | undefined>;
  /** The states alive now, newest first, of `model` only where given. */
  list(options: { model?: string | undefined; limit: number }): Promise<StateInfo[]>;
  delete(id: string): Promise<boolean>;
  deleteForModel(model: string): Promise<number>;
}
