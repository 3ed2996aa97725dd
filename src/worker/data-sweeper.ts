/**
 * A worker's sweep of the data directory, at start and every `RNNLM_SWEEP_INTERVAL_MS`: what
 * writers killed mid-write left and what no job needs any more (src/storage/data-dir.ts says
 * what goes). Whether a job still runs is read from Redis, never from a pid or a host name on
 * disk: workers on many hosts share the volume, and only the queue knows which of them holds
 * a job.
 */
import type { Redis } from 'ioredis';

import { dataDirs, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import {
  createTrainingQueue,
  serviceKeys,
  type ServiceKeys,
  type TrainingQueue,
} from '../queue/training-queue.js';
import { sweepDataDir, type DataFolders, type JobActivity, type SweepResult } from '../storage/data-dir.js';

/** Options of {@link DataSweeper}. */
export interface DataSweeperOptions {
  config: Config;
  logger: Logger;
  /** A connection the caller owns, and closes after {@link DataSweeper.close}. */
  connection: Redis;
}

/** Jobs asked about at once. */
const BATCH = 100;

function activityOf(state: string): JobActivity | undefined {
  switch (state) {
    case 'active':
      return 'running';
    case 'waiting':
    case 'delayed':
    case 'prioritized':
    case 'waiting-children':
      return 'pending';
    case 'completed':
    case 'failed':
      return 'ended';
    default:
      return undefined;
  }
}

/** The corpora a job's data refers to (read leniently: data that does not parse fails its job anyway). */
function corporaOf(data: unknown): string[] {
  const out: string[] = [];
  const sha = (ref: unknown) => {
    const value = (ref as { sha256?: unknown } | undefined)?.sha256;
    if (typeof value === 'string') out.push(value);
  };
  const d = data as { corpus?: unknown; validation?: { corpus?: unknown } } | undefined;
  sha(d?.corpus);
  sha(d?.validation?.corpus);
  return out;
}

async function inBatches<T, R>(items: readonly T[], each: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += BATCH) {
    out.push(...(await Promise.all(items.slice(i, i + BATCH).map(each))));
  }
  return out;
}

/** Sweeps the data directory for one worker; several workers sweeping one volume at once is safe. */
export class DataSweeper {
  private readonly dirs: DataFolders;
  private readonly maxAgeMs: number;
  private readonly intervalMs: number;
  private readonly logger: Logger;
  private readonly redis: Redis;
  private readonly keys: ServiceKeys;
  private readonly queue: TrainingQueue;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult | undefined> | undefined;

  constructor(options: DataSweeperOptions) {
    const { config, logger, connection } = options;
    this.dirs = dataDirs(config);
    this.maxAgeMs = config.RNNLM_DEBRIS_MAX_AGE_MS;
    this.intervalMs = config.RNNLM_SWEEP_INTERVAL_MS;
    this.logger = logger.child({ component: 'sweep' });
    this.redis = connection;
    this.keys = serviceKeys(config.RNNLM_QUEUE_PREFIX);
    this.queue = createTrainingQueue(config, connection);
    this.queue.on('error', (err) => this.logger.debug({ err }, 'queue error'));
  }

  /** Sweeps now, then every `RNNLM_SWEEP_INTERVAL_MS` (0: only now). */
  start(): void {
    void this.sweep();
    if (this.intervalMs > 0) {
      this.timer = setInterval(() => void this.sweep(), this.intervalMs);
      this.timer.unref();
    }
  }

  /**
   * Sweeps the data directory, or joins the sweep already running; undefined when it could
   * not learn where the jobs stand (Redis away), in which case it removed nothing.
   */
  sweep(): Promise<SweepResult | undefined> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * Stops the timer. A sweep in flight is not waited for: it may be waiting on Redis, and
   * once its connection is closed it ends without removing anything more.
   */
  close(): Promise<void> {
    clearInterval(this.timer);
    return this.queue.close().catch(() => undefined);
  }

  private async run(): Promise<SweepResult | undefined> {
    const started = Date.now();
    try {
      const result = await sweepDataDir(this.dirs, {
        maxAgeMs: this.maxAgeMs,
        jobActivity: (ids) => this.jobActivity(ids),
        corporaInUse: () => this.corporaInUse(),
      });
      const removed = result.removed.map((r) => `${r.folder}/${r.name}`);
      const level = removed.length > 0 ? 'info' : 'debug';
      this.logger[level]({ removed, ms: Date.now() - started }, 'data directory swept');
      return result;
    } catch (err) {
      this.logger.warn({ err }, 'could not sweep the data directory; the next sweep tries again');
      return undefined;
    }
  }

  /**
   * BullMQ's state of each job; a job BullMQ no longer has has ended when the service still
   * keeps its record (cancelled while queued), and is unknown otherwise.
   */
  private async jobActivity(ids: readonly string[]): Promise<Map<string, JobActivity>> {
    const activityOfJob = async (id: string): Promise<JobActivity> => {
      const activity = activityOf(await this.queue.getJobState(id));
      if (activity !== undefined) return activity;
      return (await this.redis.exists(this.keys.record(id))) === 1 ? 'ended' : 'unknown';
    };
    return new Map(await inBatches(ids, async (id) => [id, await activityOfJob(id)] as const));
  }

  /**
   * The corpora of every job that has not ended. The ids are read in one script (BullMQ's
   * getRanges), so a job moving between states meanwhile is not missed; a job submitted
   * after that read has just marked its corpus as used, and the age keeps it.
   */
  private async corporaInUse(): Promise<Set<string>> {
    const ids = await this.queue.getRanges(
      ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'],
      0,
      -1,
    );
    const lists = await inBatches(ids, async (id) => corporaOf((await this.queue.getJob(id))?.data));
    return new Set(lists.flat());
  }
}
