/**
 * The job side of the service behind the API, as one {@link JobService}: a thin facade that
 * owns the Redis connection and its outage gate, and composes the pieces that do the work:
 * the submission policy and the job's creation, reads and listings, cancellation, event
 * streams and the queue's metrics.
 */
import type { Redis } from 'ioredis';

import { dataDirs, type Config } from '../config.js';
import { errors } from '../errors.js';
import type { Logger } from '../logger.js';
import { CorpusStore } from '../storage/corpus-store.js';
import {
  closeConnection,
  createProducerConnection,
  evictionWarning,
  maxmemoryPolicy,
  redisLocation,
  waitUntilReady,
} from './connection.js';
import type { Job, JobEvent } from './contracts.js';
import { cancelJob } from './job-cancel.js';
import { JobEvents } from './job-events.js';
import { listJobs, type JobListPage, type JobListQuery } from './job-listing.js';
import { readJob, type JobStore } from './job-reads.js';
import { JobSubmitter } from './job-submission.js';
import { claimFinished, queueStats } from './queue-stats.js';
import { RedisHealth } from './redis-health.js';
import { checkSubmission } from './submission-policy.js';
import {
  createTrainingQueue,
  isJobId,
  serviceKeys,
  type ServiceKeys,
  type TrainingQueue,
} from './training-queue.js';
import type { FinishedJob, JobService, QueueStats, SharedRedis, SubmitInput } from './types.js';

/** Options of {@link RedisJobService}. */
export interface JobServiceOptions {
  config: Config;
  logger?: Logger | undefined;
  /**
   * How long a request with a known idempotency key waits for the first request to finish
   * creating the job.
   * @defaultValue 5000
   */
  idempotencyWaitMs?: number | undefined;
}

/** Rejects with a timeout error when `promise` has not settled within `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Command timed out: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** {@link JobService} on Redis and BullMQ; every command goes through one outage gate. */
export class RedisJobService implements JobService {
  readonly queue: TrainingQueue;
  readonly keys: ServiceKeys;
  readonly corpora: CorpusStore;
  readonly shared: SharedRedis;
  private readonly redis: Redis;
  private readonly config: Config;
  private readonly health: RedisHealth;
  private readonly store: JobStore;
  private readonly submitter: JobSubmitter;
  private readonly jobEvents: JobEvents;
  private readonly logger: Logger | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: JobServiceOptions) {
    const { config, logger } = options;
    this.config = config;
    this.logger = logger;
    this.redis = createProducerConnection(config, 'rnnlm-api');
    this.redis.on('error', (err) => logger?.debug({ err }, 'redis connection error'));
    this.health = new RedisHealth(this.redis, redisLocation(config), logger);
    this.queue = createTrainingQueue(config, this.redis);
    this.queue.on('error', (err) => logger?.debug({ err }, 'queue error'));
    this.keys = serviceKeys(config.RNNLM_QUEUE_PREFIX);
    this.corpora = new CorpusStore(dataDirs(config).corpora);
    this.store = { redis: this.redis, keys: this.keys, queue: this.queue };
    this.submitter = new JobSubmitter({
      store: this.store,
      corpora: this.corpora,
      logger,
      idempotencyWaitMs: options.idempotencyWaitMs ?? 5000,
    });
    this.jobEvents = new JobEvents({
      redis: this.redis,
      keys: this.keys,
      config,
      logger,
      gate: (work) => this.health.run(work),
    });
    this.shared = {
      prefix: config.RNNLM_QUEUE_PREFIX,
      run: (work, timeoutMs) => this.health.run(() => withTimeout(work(this.redis), timeoutMs)),
    };
  }

  /**
   * Resolves when Redis is connected; RNNLM_REDIS_UNAVAILABLE after `timeoutMs`. Warns when
   * Redis may evict keys (`maxmemory-policy` other than `noeviction`, or unreadable).
   */
  async ready(timeoutMs?: number): Promise<void> {
    await waitUntilReady(this.redis, redisLocation(this.config), timeoutMs);
    const policy = await this.maxmemoryPolicy();
    const warning = evictionWarning(policy);
    if (warning !== undefined) this.logger?.warn({ maxmemoryPolicy: policy }, warning);
  }

  async maxmemoryPolicy(): Promise<string> {
    return maxmemoryPolicy(this.redis);
  }

  async ping(): Promise<void> {
    try {
      await this.health.run(() => withTimeout(this.redis.ping(), 1000));
    } catch (err) {
      throw errors.redisUnavailable(redisLocation(this.config), err);
    }
  }

  async submit(input: SubmitInput, idempotencyKey?: string): Promise<{ job: Job; created: boolean }> {
    // Everything that can be refused is checked before anything is stored or queued.
    const checked = await checkSubmission(this.config, input);
    return this.health.run(() => this.submitter.create(input, checked, idempotencyKey));
  }

  async get(id: string): Promise<Job | undefined> {
    if (!isJobId(id)) return undefined;
    return this.health.run(() => readJob(this.store, id));
  }

  async list(query: JobListQuery): Promise<JobListPage> {
    return this.health.run(() => listJobs(this.store, query));
  }

  async cancel(id: string): Promise<Job | undefined> {
    if (!isJobId(id)) return undefined;
    const options = { checkpointsDir: dataDirs(this.config).checkpoints, logger: this.logger };
    return this.health.run(() => cancelJob(this.store, id, options));
  }

  async events(id: string, after?: string, limit?: number): Promise<JobEvent[]> {
    return this.jobEvents.events(id, after, limit);
  }

  async waitForEvents(
    id: string,
    after: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<JobEvent[]> {
    return this.jobEvents.waitForEvents(id, after, timeoutMs, signal);
  }

  async queueStats(): Promise<QueueStats> {
    return this.health.run(() => queueStats(this.queue));
  }

  async claimFinished(since: number): Promise<{ jobs: FinishedJob[]; next: number }> {
    return this.health.run(() => claimFinished(this.store, since));
  }

  /** Closes the queue and every connection; safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.health.close();
      this.jobEvents.close();
      await this.queue.close().catch(() => undefined);
      await closeConnection(this.redis);
    })();
    return this.closing;
  }
}
