/**
 * The BullMQ side of training: a Worker whose processor is a file (train.processor), so each
 * job trains in a child process while this process renews locks, relays cancellations from
 * Redis pub/sub, and records how each job ended in its event stream.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Worker, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';

import { childEnv, dataDirs, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { closeConnection, createWorkerConnection } from '../queue/connection.js';
import { isRedisUnavailable, OutageLog } from '../queue/redis-health.js';
import { removeCheckpoint } from '../storage/checkpoints.js';
import { removeLeftovers } from '../storage/fs-atomic.js';
import type { TrainingJobData } from '../queue/contracts.js';
import { isJobId, modelIdOfJob } from '../ids.js';
import { jobView, parseRecord } from '../queue/job-records.js';
import {
  appendEvent,
  decodeError,
  encodeError,
  expireJob,
  serviceKeys,
  STOP_CANCELLED,
  STOP_SHUTDOWN,
  TRAINING_QUEUE,
  type ServiceKeys,
  type TrainingResult,
} from '../queue/training-queue.js';
import { DataSweeper } from './data-sweeper.js';

/** Options of {@link TrainingWorker}. */
export interface TrainingWorkerOptions {
  config: Config;
  logger: Logger;
}

/**
 * Where the processor is and how a child runs it: the compiled `.js` next to this file, or,
 * when running from source, the `.ts` file with tsx registered in the child.
 */
function processorSpec(): { file: string; execArgv: string[] | undefined } {
  const fromSource = import.meta.url.endsWith('.ts');
  const file = fileURLToPath(new URL(`./train.processor.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  if (!existsSync(file)) throw new Error(`training processor not found at ${file}`);
  if (!fromSource) return { file, execArgv: undefined };
  const tsx = import.meta.resolve('tsx');
  const registered = process.execArgv.some((a) => a.includes('tsx'));
  return { file, execArgv: registered ? undefined : [...process.execArgv, '--import', tsx] };
}

export class TrainingWorker {
  readonly worker: Worker<TrainingJobData, TrainingResult>;
  private readonly connection: Redis;
  private readonly subscriber: Redis;
  private readonly events: Redis;
  private readonly keys: ServiceKeys;
  private readonly logger: Logger;
  private readonly checkpointsDir: string;
  private readonly modelsDir: string;
  private readonly sweeper: DataSweeper;
  private closing: Promise<void> | undefined;

  constructor(options: TrainingWorkerOptions) {
    const { config, logger } = options;
    this.logger = logger;
    this.checkpointsDir = dataDirs(config).checkpoints;
    this.modelsDir = dataDirs(config).models;
    this.keys = serviceKeys(config.RNNLM_QUEUE_PREFIX);
    this.connection = createWorkerConnection(config, 'rnnlm-worker');
    this.events = createWorkerConnection(config, 'rnnlm-worker-events');
    this.subscriber = createWorkerConnection(config, 'rnnlm-worker-cancel');
    for (const conn of [this.connection, this.events, this.subscriber]) {
      conn.on('error', (err) => logger.debug({ err }, 'redis connection error'));
    }

    const processor = processorSpec();
    this.worker = new Worker<TrainingJobData, TrainingResult>(TRAINING_QUEUE, processor.file, {
      connection: this.connection,
      prefix: config.RNNLM_QUEUE_PREFIX,
      concurrency: config.RNNLM_WORKER_CONCURRENCY,
      // A dead worker's job is back in the queue within lock + stall check (10 + 2.5 s by
      // default); this process's event loop renews the lock while the training child computes.
      lockDuration: config.RNNLM_JOB_LOCK_MS,
      lockRenewTime: config.RNNLM_JOB_LOCK_RENEW_MS,
      stalledInterval: config.RNNLM_STALLED_CHECK_MS,
      maxStalledCount: 2,
      workerForkOptions: {
        env: childEnv(config),
        ...(processor.execArgv === undefined ? {} : { execArgv: processor.execArgv }),
      },
      autorun: true,
    });
    // A Redis outage makes every connection fail its reconnects about once a second: logged
    // once as it starts and once as it ends instead.
    const outage = new OutageLog(logger, 'training bookkeeping waits for it; running jobs go on');
    this.connection.on('ready', () => outage.answered());
    this.worker.on('error', (err) => {
      if (!isRedisUnavailable(err)) logger.error({ err }, 'worker error');
      else if (this.connection.status === 'ready') logger.debug({ err }, 'redis connection error');
      else outage.failed(err);
    });
    this.worker.on('active', (job) => logger.info({ jobId: job.id }, 'job started'));
    this.worker.on('completed', (job) => void this.finished(job));
    this.worker.on('failed', (job) => {
      if (job !== undefined) void this.finished(job);
    });
    this.worker.on('stalled', (jobId) =>
      logger.warn({ jobId }, 'job stalled; it will resume from its checkpoint'),
    );

    // Cancellations are announced on a channel; the worker holding the job aborts it (the
    // processor also polls the flag, so a message lost in a reconnect only costs latency).
    void this.subscriber.subscribe(this.keys.cancelChannel).catch((err: unknown) => {
      logger.error({ err }, 'cannot subscribe to cancellations');
    });
    this.subscriber.on('message', (_channel: string, jobId: string) => {
      if (isJobId(jobId) && this.worker.cancelJob(jobId, STOP_CANCELLED)) {
        logger.info({ jobId }, 'cancelling running job');
      }
    });

    // What crashed writers left, here or on another host, once their jobs no longer run.
    this.sweeper = new DataSweeper({ config, logger, connection: this.events });
    this.sweeper.start();
  }

  /** Resolves once the worker is connected and taking jobs. */
  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Records the job's final (or retry) status in its event stream. */
  private async finished(job: BullJob<TrainingJobData, TrainingResult>): Promise<void> {
    const id = job.id;
    if (id === undefined || !isJobId(id)) return;
    try {
      const record = parseRecord(await this.events.hgetall(this.keys.record(id)));
      if (record === undefined) return;
      const state = await job.getState();
      const view = jobView(id, record, job, state);
      const log = this.logger.child({ jobId: id });
      if (view.status === 'queued') {
        // Failed an attempt and will be retried.
        const reason = decodeError(job.failedReason);
        await appendEvent(this.events, this.keys, id, 'log', {
          message: `attempt ${job.attemptsMade} failed: ${encodeError(reason.code, reason.message)}; retrying`,
        });
        await appendEvent(this.events, this.keys, id, 'status', { status: 'queued' });
        log.warn({ reason: job.failedReason }, 'job attempt failed; retrying');
        return;
      }
      const payload: Record<string, unknown> = { status: view.status };
      if (view.modelId !== undefined) payload.modelId = view.modelId;
      if (view.stopReason !== undefined) payload.stopReason = view.stopReason;
      if (view.error !== undefined) payload.error = view.error;
      await appendEvent(this.events, this.keys, id, 'status', payload);
      await expireJob(this.events, this.keys, id);
      // A job that ended for good never resumes; the processor removes the checkpoint on
      // its own paths, this catches the rest (retries used up, a crash on the last try),
      // and what its runs killed mid-write left beside the checkpoint and the model.
      await removeCheckpoint(join(this.checkpointsDir, id));
      await removeLeftovers(join(this.modelsDir, modelIdOfJob(id)));
      log.info({ status: view.status, modelId: view.modelId, error: view.error }, 'job finished');
    } catch (err) {
      this.logger.error({ err, jobId: id }, 'could not record the end of a job');
    }
  }

  /**
   * Stops fetching jobs at once, without waiting: running ones go on until {@link close}. For
   * a process that has other things to close first (its HTTP server) when told to stop.
   */
  stopTakingJobs(): void {
    this.worker.pause(true).catch((err: unknown) => this.logger.warn({ err }, 'could not pause the worker'));
  }

  /**
   * Stops taking jobs, tells running ones to checkpoint and hand themselves back, waits for
   * them up to `timeoutMs`, then closes the connections. Jobs still running then are left
   * to their locks: once those expire another worker resumes them from their last
   * checkpoint (the children exit when this process does). Idempotent.
   */
  close(timeoutMs = 30_000): Promise<void> {
    this.closing ??= (async () => {
      // close() marks the worker closing before it awaits anything, so no job is fetched
      // after this line; only then are the running ones told to hand themselves back.
      const graceful = this.worker.close();
      this.worker.cancelAllJobs(STOP_SHUTDOWN);
      const sweeperClosed = this.sweeper.close();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        graceful.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.logger.warn('jobs did not stop in time; leaving them to be resumed elsewhere');
        for (const conn of [this.subscriber, this.events, this.connection]) conn.disconnect();
        return;
      }
      await sweeperClosed;
      await Promise.all([this.subscriber, this.events, this.connection].map(closeConnection));
    })();
    return this.closing;
  }
}
