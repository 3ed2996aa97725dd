/**
 * The job side of the service behind the API: submitting (limits, corpus to disk, one BullMQ
 * job per idempotency key), job views built from BullMQ's state plus the service's own
 * record, cursor-paginated listings, cancellation through Redis, and each job's event stream.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

import type { Job as BullJob, JobState } from 'bullmq';
import type { Redis } from 'ioredis';
import { z } from 'zod';

import { dataDirs, type Config } from '../config.js';
import { diskFull, isDiskFull, isRnnlmError, RnnlmError } from '../errors.js';
import type { Logger } from '../logger.js';
import { modelSpecSchema, runConfigSchema, type RunConfig } from '../ml/config.js';
import { fineTuneConfig, type BaseModelInfo } from '../ml/fine-tune.js';
import { estimateTraining, vocabularyBound, type TrainingEstimate } from '../ml/estimate.js';
import { readModelMeta } from '../storage/artifacts.js';
import { removeCheckpoint } from '../storage/checkpoints.js';
import { CorpusStore, decodeUtf8 } from '../storage/corpus-store.js';
import {
  createBlockingConnection,
  createProducerConnection,
  closeConnection,
  evictionWarning,
  maxmemoryPolicy,
  redisUnavailable,
  waitUntilReady,
} from './connection.js';
import { idempotencyClaim, parseIdempotencyClaim, requestFingerprint } from './idempotency.js';
import { isRedisUnavailable, RedisHealth } from './redis-health.js';
import {
  jobEventTypeSchema,
  type CorpusRef,
  type Job,
  type JobEvent,
  type JobStatus,
  type TrainingJobData,
} from './contracts.js';
import { applyLimits } from './limits.js';
import { checkDataFits } from './preflight.js';
import {
  appendEvent,
  createTrainingQueue,
  expireJob,
  isJobId,
  JOB_RETENTION_SECONDS,
  newJobId,
  serviceKeys,
  type ServiceKeys,
  type TrainingProgress,
  type TrainingQueue,
  type TrainingResult,
} from './training-queue.js';
import { jobView, num, parseRecord, statusOf, type JobRecord } from './job-records.js';
import {
  QUEUE_STATES,
  type FinishedJob,
  type JobService,
  type QueueState,
  type QueueStats,
  type RateLimitHit,
  type SubmitInput,
} from './types.js';

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

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;
const EVENTS_PAGE = 1000;

interface Cursor {
  score: number;
  id: string;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.score}:${c.id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{1,16}):(job_[a-z0-9]{26})$/.exec(raw);
  if (m === null) {
    throw new RnnlmError('RNNLM_INVALID_REQUEST', 'cursor is not one this service returned', {
      field: 'cursor',
    });
  }
  return { score: Number(m[1]), id: m[2] as string };
}

function invalid(field: string, message: string): RnnlmError {
  return new RnnlmError('RNNLM_INVALID_CONFIG', `${field}: ${message}`, { field });
}

function parseRunConfig(input: SubmitInput): RunConfig {
  const parsed = runConfigSchema.safeParse({
    tokenizer: input.tokenizer,
    model: input.model,
    training: input.training,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? 'config';
    throw invalid(field, issue?.message ?? 'invalid');
  }
  return parsed.data;
}

/** The base model's run configuration from its meta.json; a missing or unreadable one is a 400 on `baseModel`. */
async function baseModelInfo(modelsDir: string, id: string): Promise<BaseModelInfo> {
  let meta: Record<string, unknown>;
  try {
    meta = await readModelMeta(join(modelsDir, id));
  } catch (err) {
    if (!isRnnlmError(err)) throw err;
    throw invalid('baseModel', `no model ${id}`);
  }
  const parsed = baseMetaSchema.safeParse(meta);
  if (!parsed.success) throw invalid('baseModel', `model ${id} has no readable configuration`);
  return { id, config: parsed.data.config, modelConfig: parsed.data.modelConfig };
}

const baseMetaSchema = z.object({
  config: runConfigSchema,
  modelConfig: modelSpecSchema.and(z.object({ vocabSize: z.number().int().min(1) })),
});

function corpusBytes(
  source: { text: string } | { bytes: Uint8Array },
  what: string,
  limit: number,
): { bytes: Uint8Array; text: string } {
  const bytes = 'text' in source ? Buffer.from(source.text, 'utf8') : source.bytes;
  if (bytes.byteLength > limit) {
    throw new RnnlmError(
      'RNNLM_CORPUS_TOO_LARGE',
      `${what} is ${bytes.byteLength} bytes; the limit is ${limit}`,
      {
        field: what,
        bytes: bytes.byteLength,
        limit,
      },
    );
  }
  const text = 'text' in source ? source.text : decodeUtf8(bytes, what);
  if (text.trim().length === 0) {
    throw new RnnlmError('RNNLM_CORPUS_EMPTY', `${what} is empty or only whitespace`, { field: what });
  }
  return { bytes, text };
}

const GIB = 1024 ** 3;
const formatCount = (n: number) => n.toLocaleString('en-US');
const formatGib = (bytes: number) => `${(bytes / GIB).toFixed(2)} GiB`;

/**
 * Refuses a run whose model, by the estimate from its hyperparameters (and, for a char
 * tokenizer, the distinct characters of `corpus`), has more parameters or needs more training
 * memory than the deployment allows; the message and `details` give the estimate and the limit.
 */
export function checkTrainingSize(config: Config, run: RunConfig, corpus: string): TrainingEstimate {
  const estimate = estimateTraining(run, vocabularyBound(run.tokenizer, corpus, config.RNNLM_MAX_VOCAB));
  const maxParameters = config.RNNLM_MAX_PARAMS;
  const maxBytes = config.RNNLM_MAX_TRAINING_MEMORY_BYTES;
  const { parameters } = estimate;
  const bytes = estimate.bytes.total;
  if (parameters <= maxParameters && bytes <= maxBytes) return estimate;
  throw new RnnlmError(
    'RNNLM_MODEL_TOO_LARGE',
    `the model would have ${formatCount(parameters)} parameters (limit ${formatCount(maxParameters)}) ` +
      `and training would need about ${formatGib(bytes)} (${formatCount(bytes)} bytes; limit ` +
      `${formatGib(maxBytes)}, ${formatCount(maxBytes)} bytes) with a vocabulary of up to ` +
      `${formatCount(estimate.vocabSize)} tokens; lower model.hiddenSize, model.layers, ` +
      'model.embeddingSize, training.batchSize, training.seqLength or tokenizer.vocabSize',
    {
      parameters,
      maxParameters,
      trainingMemoryBytes: bytes,
      maxTrainingMemoryBytes: maxBytes,
      vocabSize: estimate.vocabSize,
      estimate: estimate.bytes,
    },
  );
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class RedisJobService implements JobService {
  readonly queue: TrainingQueue;
  readonly keys: ServiceKeys;
  readonly corpora: CorpusStore;
  private readonly redis: Redis;
  private readonly config: Config;
  private readonly logger: Logger | undefined;
  private readonly idempotencyWaitMs: number;
  private readonly health: RedisHealth;
  /** Idle connections for XREAD BLOCK (one blocking read per connection at a time). */
  private readonly blockingPool: Redis[] = [];
  private readonly blockingBusy = new Set<Redis>();
  private closing: Promise<void> | undefined;

  constructor(options: JobServiceOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.idempotencyWaitMs = options.idempotencyWaitMs ?? 5000;
    this.redis = createProducerConnection(this.config, 'rnnlm-api');
    this.redis.on('error', (err) => this.logger?.debug({ err }, 'redis connection error'));
    this.health = new RedisHealth(this.redis, this.config.REDIS_URL, this.logger);
    this.queue = createTrainingQueue(this.config, this.redis);
    this.queue.on('error', (err) => this.logger?.debug({ err }, 'queue error'));
    this.keys = serviceKeys(this.config.RNNLM_QUEUE_PREFIX);
    this.corpora = new CorpusStore(dataDirs(this.config).corpora);
  }

  /**
   * Resolves when Redis is connected; RNNLM_REDIS_UNAVAILABLE after `timeoutMs`. Warns when
   * Redis may evict keys (`maxmemory-policy` other than `noeviction`, or unreadable).
   */
  async ready(timeoutMs?: number): Promise<void> {
    await waitUntilReady(this.redis, this.config.REDIS_URL, timeoutMs);
    const policy = await this.maxmemoryPolicy();
    const warning = evictionWarning(policy);
    if (warning !== undefined) this.logger?.warn({ maxmemoryPolicy: policy }, warning);
  }

  async maxmemoryPolicy(): Promise<string> {
    return maxmemoryPolicy(this.redis);
  }

  async ping(): Promise<void> {
    try {
      await this.health.run(() => this.withTimeout(this.redis.ping(), 1000));
    } catch (err) {
      throw redisUnavailable(this.config.REDIS_URL, err);
    }
  }

  /**
   * A fixed-window counter under `<prefix>:ratelimit:<bucket>`: INCR, the window's expiry set
   * by its first hit (and repaired if it was lost), in one script so instances never race.
   */
  async hitRateLimit(bucket: string, windowMs: number): Promise<RateLimitHit> {
    const key = `${this.config.RNNLM_QUEUE_PREFIX}:ratelimit:${bucket}`;
    const result = await this.health.run(() =>
      this.withTimeout(this.redis.eval(RATE_LIMIT_SCRIPT, 1, key, String(windowMs)), 1000),
    );
    const [count, ttl] = Array.isArray(result) ? (result as unknown[]) : [];
    if (typeof count !== 'number' || typeof ttl !== 'number') {
      throw new Error(`unexpected rate-limit answer from Redis: ${JSON.stringify(result)}`);
    }
    return { count, resetMs: Math.max(0, ttl) };
  }

  async submit(input: SubmitInput, idempotencyKey?: string): Promise<{ job: Job; created: boolean }> {
    // Everything that can be refused is checked before anything is stored or queued.
    const config = applyLimits(
      this.config,
      input.baseModel === undefined
        ? parseRunConfig(input)
        : fineTuneConfig(await baseModelInfo(dataDirs(this.config).models, input.baseModel), input),
    );
    const limit = this.config.RNNLM_MAX_CORPUS_BYTES;
    const corpus = corpusBytes(input.corpus, 'corpus', limit);
    const v = input.validation;
    const validation = v === undefined || 'fraction' in v ? undefined : corpusBytes(v, 'validation', limit);
    const fraction = v !== undefined && 'fraction' in v ? v.fraction : 0.1;
    checkTrainingSize(this.config, config, corpus.text);
    checkDataFits(this.config, config, corpus.text, validation === undefined ? { fraction } : validation);
    return this.health.run(() =>
      this.create(input, { config, corpus, validation, fraction }, idempotencyKey),
    );
  }

  /** The writing half of {@link submit}: everything in it has been checked. */
  private async create(
    input: SubmitInput,
    checked: {
      config: RunConfig;
      corpus: { bytes: Uint8Array };
      validation: { bytes: Uint8Array } | undefined;
      fraction: number;
    },
    idempotencyKey: string | undefined,
  ): Promise<{ job: Job; created: boolean }> {
    const { config, corpus, validation, fraction } = checked;
    const id = newJobId();
    let idemKey: string | undefined;
    if (idempotencyKey !== undefined) {
      idemKey = this.keys.idempotency(createHash('sha256').update(idempotencyKey).digest('hex'));
      const fingerprint = requestFingerprint(input);
      const claim = idempotencyClaim(id, fingerprint);
      let existing: Job | undefined;
      try {
        existing = await this.claimIdempotencyKey(idemKey, claim, fingerprint);
      } catch (err) {
        // A frozen Redis runs the SET NX when it thaws: give the key back then, unless another
        // request holds it, so a retry is not refused as in flight for the key's lifetime.
        if (isRedisUnavailable(err)) {
          this.redis.eval(RELEASE_CLAIM_SCRIPT, 1, idemKey, claim).catch(() => undefined);
        }
        throw err;
      }
      if (existing !== undefined) return { job: existing, created: false };
    }
    try {
      const ref = await this.putCorpus(corpus.bytes);
      const validationRef: CorpusRef | undefined =
        validation === undefined ? undefined : await this.putCorpus(validation.bytes);
      const createdAt = new Date();
      const data: TrainingJobData = {
        name: input.name ?? id,
        corpus: ref,
        validation: validationRef === undefined ? { fraction } : { corpus: validationRef },
        config,
        ...(input.baseModel === undefined ? {} : { baseModel: input.baseModel }),
        createdAt: createdAt.toISOString(),
      };
      // The record and the first event go in before the job: a worker may start it at once.
      await this.redis
        .multi()
        .hset(this.keys.record(id), 'data', JSON.stringify(data))
        .zadd(this.keys.index, createdAt.getTime(), id)
        .xadd(this.keys.events(id), '*', 'type', 'status', 'data', JSON.stringify({ status: 'queued' }))
        .exec();
      await this.queue.add('train', data, { jobId: id });
      this.logger?.info({ jobId: id, corpusBytes: ref.bytes }, 'job submitted');
      const job = await this.get(id);
      if (job === undefined) throw new Error(`job ${id} vanished right after it was queued`);
      return { job, created: true };
    } catch (err) {
      // Undo the claim so a retry of the same request can create the job. Not awaited: when
      // Redis is frozen the commands above are still queued on this connection and run when
      // it thaws, and this undo, sent after them on the same connection, runs after them.
      const cleanup = this.redis
        .multi()
        .del(this.keys.record(id), this.keys.events(id))
        .zrem(this.keys.index, id);
      if (idemKey !== undefined) cleanup.del(idemKey);
      cleanup.exec().catch(() => undefined);
      this.queue.remove(id).catch(() => undefined);
      throw err;
    }
  }

  /** Stores a corpus; a full disk is RNNLM_DISK_FULL, whose message says so and names no path. */
  private async putCorpus(bytes: Uint8Array): Promise<CorpusRef> {
    try {
      return await this.corpora.put(bytes);
    } catch (err) {
      throw isDiskFull(err) ? diskFull(err) : err;
    }
  }

  /**
   * SET NX of key → id and the request's fingerprint: undefined when this request owns the
   * key, else the job the first request created (waiting briefly while that request is still
   * creating it). A key first used for a different request is a 422; one whose first request
   * is still being processed after the wait, a 409.
   */
  private async claimIdempotencyKey(
    key: string,
    claim: string,
    fingerprint: string,
  ): Promise<Job | undefined> {
    const deadline = Date.now() + this.idempotencyWaitMs;
    for (;;) {
      const claimed = await this.redis.set(key, claim, 'EX', JOB_RETENTION_SECONDS, 'NX');
      if (claimed === 'OK') return undefined;
      const owner = parseIdempotencyClaim(await this.redis.get(key));
      if (owner?.fingerprint !== undefined && owner.fingerprint !== fingerprint) {
        throw new RnnlmError(
          'RNNLM_IDEMPOTENCY_KEY_REUSED',
          'this Idempotency-Key was used for a different request; use a new key for a new job',
          { field: 'headers.idempotency-key', jobId: owner.id },
        );
      }
      if (owner !== undefined) {
        const job = isJobId(owner.id) ? await this.get(owner.id) : undefined;
        if (job !== undefined) return job;
      }
      if (Date.now() > deadline) {
        throw new RnnlmError(
          'RNNLM_IDEMPOTENCY_KEY_IN_USE',
          'a request with this Idempotency-Key is still being processed; retry in a few seconds',
          { retryAfterSeconds: 1 },
        );
      }
      await sleep(25);
    }
  }

  private async record(id: string): Promise<JobRecord | undefined> {
    return parseRecord(await this.redis.hgetall(this.keys.record(id)));
  }

  private async bullJob(id: string): Promise<{
    job: BullJob<TrainingJobData, TrainingResult> | undefined;
    state: JobState | 'unknown';
  }> {
    const job = await this.queue.getJob(id);
    if (job === undefined) return { job, state: 'unknown' };
    return { job, state: await job.getState() };
  }

  async get(id: string): Promise<Job | undefined> {
    if (!isJobId(id)) return undefined;
    return this.health.run(() => this.read(id));
  }

  private async read(id: string): Promise<Job | undefined> {
    const record = await this.record(id);
    if (record === undefined) return undefined;
    const { job, state } = await this.bullJob(id);
    return jobView(id, record, job, state);
  }

  async list(query: {
    status?: JobStatus | undefined;
    limit: number;
    cursor?: string | undefined;
  }): Promise<{ items: Job[]; nextCursor: string | null }> {
    return this.health.run(() => this.listPage(query));
  }

  private async listPage(query: {
    status?: JobStatus | undefined;
    limit: number;
    cursor?: string | undefined;
  }): Promise<{ items: Job[]; nextCursor: string | null }> {
    const limit = Math.max(1, Math.min(query.limit, 1000));
    let after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const items: Job[] = [];
    const batch = Math.max(limit * 2, 50);
    for (;;) {
      const page = await this.indexPage(after, batch);
      for (const entry of page) {
        after = entry;
        const job = await this.get(entry.id);
        if (job === undefined) {
          // The job's record expired: drop it from the index too.
          await this.redis.zrem(this.keys.index, entry.id);
          continue;
        }
        if (query.status !== undefined && job.status !== query.status) continue;
        items.push(job);
        if (items.length === limit) {
          const more = (await this.indexPage(entry, 1)).length > 0;
          return { items, nextCursor: more ? encodeCursor(entry) : null };
        }
      }
      if (page.length < batch) return { items, nextCursor: null };
    }
  }

  /** Up to `count` index entries after `after`, newest first (ties by id, descending). */
  private async indexPage(after: Cursor | undefined, count: number): Promise<Cursor[]> {
    const max = after === undefined ? '+inf' : String(after.score);
    const out: Cursor[] = [];
    let offset = 0;
    // Entries with the cursor's own score but an id at or above it come first; skip them.
    for (;;) {
      const raw = await this.redis.zrevrangebyscore(
        this.keys.index,
        max,
        '-inf',
        'WITHSCORES',
        'LIMIT',
        offset,
        count,
      );
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const id = raw[i] as string;
        const score = Number(raw[i + 1]);
        if (after !== undefined && score === after.score && id >= after.id) continue;
        out.push({ id, score });
        if (out.length === count) return out;
      }
      if (raw.length < count * 2) return out;
      offset += count;
    }
  }

  async cancel(id: string): Promise<Job | undefined> {
    if (!isJobId(id)) return undefined;
    return this.health.run(() => this.requestCancel(id));
  }

  private async requestCancel(id: string): Promise<Job | undefined> {
    const record = await this.record(id);
    if (record === undefined) return undefined;
    const { job, state } = await this.bullJob(id);
    const current = jobView(id, record, job, state);
    if (current.status !== 'queued' && current.status !== 'running') return current;

    // The flag first: a worker that picks the job up from now on refuses to start it.
    await this.redis.hset(this.keys.record(id), 'cancelRequested', '1');
    await this.redis.publish(this.keys.cancelChannel, id);
    if (current.status === 'queued') {
      let removed = false;
      try {
        if (job !== undefined) await job.remove();
        removed = true;
      } catch (err) {
        // Locked: a worker took it in the meantime and will see the flag.
        this.logger?.debug({ jobId: id, err }, 'queued job could not be removed');
      }
      if (removed) {
        const finishedAt = new Date().toISOString();
        const error = { code: 'RNNLM_ABORTED', message: 'cancelled before it started' };
        await this.redis.hset(this.keys.record(id), {
          status: 'cancelled',
          finishedAt,
          error: JSON.stringify(error),
        });
        await appendEvent(this.redis, this.keys, id, 'status', { status: 'cancelled', error });
        await expireJob(this.redis, this.keys, id);
        // A job handed back by a worker that shut down may have left a checkpoint.
        await removeCheckpoint(join(dataDirs(this.config).checkpoints, id));
        this.logger?.info({ jobId: id }, 'queued job cancelled');
      }
    } else {
      await appendEvent(this.redis, this.keys, id, 'log', { message: 'cancellation requested' });
      this.logger?.info({ jobId: id }, 'running job told to stop');
    }
    return this.get(id);
  }

  async events(id: string, after?: string, limit = EVENTS_PAGE): Promise<JobEvent[]> {
    if (!isJobId(id)) return [];
    const start = after === undefined ? '-' : `(${checkStreamId(after)}`;
    const raw = await this.health.run(() =>
      this.redis.xrange(this.keys.events(id), start, '+', 'COUNT', limit),
    );
    return raw.flatMap(([eventId, fields]) => parseEvent(eventId, fields));
  }

  async waitForEvents(
    id: string,
    after: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<JobEvent[]> {
    if (!isJobId(id)) return [];
    const ready = await this.events(id, after);
    if (ready.length > 0 || timeoutMs <= 0 || signal?.aborted === true) return ready;
    const from = after === undefined ? '0-0' : checkStreamId(after);
    const conn = this.takeBlocking();
    let broken = false;
    const abort = () => {
      broken = true;
      conn.disconnect();
    };
    signal?.addEventListener('abort', abort, { once: true });
    // Redis ends the block itself; this only guards against a server that stopped answering.
    const guard = setTimeout(abort, timeoutMs + 5000);
    try {
      const reply = await conn.xread(
        'COUNT',
        EVENTS_PAGE,
        'BLOCK',
        Math.max(1, Math.round(timeoutMs)),
        'STREAMS',
        this.keys.events(id),
        from,
      );
      const entries = reply?.[0]?.[1] ?? [];
      return entries.flatMap(([eventId, fields]) => parseEvent(eventId, fields));
    } catch (err) {
      if (broken) return [];
      throw err;
    } finally {
      clearTimeout(guard);
      signal?.removeEventListener('abort', abort);
      this.returnBlocking(conn, broken);
    }
  }

  private takeBlocking(): Redis {
    let conn = this.blockingPool.pop();
    if (conn === undefined) {
      conn = createBlockingConnection(this.config, 'rnnlm-events');
      conn.on('error', (err) => this.logger?.debug({ err }, 'redis blocking connection error'));
    }
    this.blockingBusy.add(conn);
    return conn;
  }

  private returnBlocking(conn: Redis, broken: boolean): void {
    this.blockingBusy.delete(conn);
    if (broken || this.closing !== undefined || this.blockingPool.length >= 16) {
      conn.disconnect();
    } else {
      this.blockingPool.push(conn);
    }
  }

  async queueStats(): Promise<QueueStats> {
    const [counts, active] = await this.health.run(() =>
      Promise.all([this.queue.getJobCounts(...QUEUE_STATES), this.queue.getActive(0, RUNNING_PAGE - 1)]),
    );
    return {
      counts: Object.fromEntries(QUEUE_STATES.map((state) => [state, counts[state] ?? 0])) as Record<
        QueueState,
        number
      >,
      running: active.flatMap((job) => {
        if (job.id === undefined) return [];
        const progress = job.progress as Partial<TrainingProgress> | number | null;
        const tokensPerSecond =
          typeof progress === 'object' && progress !== null ? progress.tokensPerSecond : null;
        return [{ id: job.id, tokensPerSecond: num(tokensPerSecond) }];
      }),
    };
  }

  /**
   * Scans BullMQ's completed and failed sets (scored by finish time) from `since` and claims
   * each job with HSETNX on its record, so one API instance alone reports it. The next scan
   * starts FINISHED_SKEW_MS before the newest finish seen: a worker whose clock lags may add
   * a job behind it, and the claims make the overlap harmless.
   */
  async claimFinished(since: number): Promise<{ jobs: FinishedJob[]; next: number }> {
    return this.health.run(() => this.claimFinishedSince(since));
  }

  private async claimFinishedSince(since: number): Promise<{ jobs: FinishedJob[]; next: number }> {
    const found: { id: string; state: 'completed' | 'failed' }[] = [];
    let newest = since;
    let pageEnd = Number.POSITIVE_INFINITY;
    for (const state of ['completed', 'failed'] as const) {
      const key = this.queue.keys[state];
      if (key === undefined) continue;
      const raw = await this.redis.zrangebyscore(key, since, '+inf', 'WITHSCORES', 'LIMIT', 0, CLAIM_PAGE);
      let last = since;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        const id = raw[i] as string;
        last = Number(raw[i + 1]);
        if (isJobId(id)) found.push({ id, state });
      }
      newest = Math.max(newest, last);
      // A full page: the rest of this set waits for the next call, which starts where it ended.
      if (raw.length === 2 * CLAIM_PAGE) pageEnd = Math.min(pageEnd, last);
    }
    const next = Number.isFinite(pageEnd) ? pageEnd : Math.max(since, newest - FINISHED_SKEW_MS);
    if (found.length === 0) return { jobs: [], next };
    const claimed = (await this.redis.eval(
      CLAIM_SCRIPT,
      found.length,
      ...found.map(({ id }) => this.keys.record(id)),
    )) as number[];
    const mine = found.filter((_, i) => claimed[i] === 1);
    const jobs = await Promise.all(
      mine.map(async ({ id, state }): Promise<FinishedJob | undefined> => {
        const [record, job] = await Promise.all([this.record(id), this.queue.getJob(id)]);
        if (record === undefined) return undefined;
        const status = statusOf(state, record);
        if (status !== 'succeeded' && status !== 'failed' && status !== 'cancelled') return undefined;
        const { processedOn, finishedOn } = job ?? {};
        const durationSeconds =
          processedOn === undefined || finishedOn === undefined
            ? null
            : Math.max(0, finishedOn - processedOn) / 1000;
        return { id, status, durationSeconds };
      }),
    );
    return { jobs: jobs.filter((j): j is FinishedJob => j !== undefined), next };
  }

  /** Closes the queue and every connection; safe to call more than once. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.health.close();
      for (const conn of [...this.blockingBusy, ...this.blockingPool.splice(0)]) conn.disconnect();
      await this.queue.close().catch(() => undefined);
      await closeConnection(this.redis);
    })();
    return this.closing;
  }

  private async withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
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
}

/** Running jobs the metrics report at most. */
const RUNNING_PAGE = 1000;
/** Finished jobs one claimFinished call takes from each set at most. */
const CLAIM_PAGE = 200;
/** How far the clocks of workers may disagree (see claimFinished). */
const FINISHED_SKEW_MS = 60_000;

/**
 * KEYS: job records; returns 1 for each record this call claimed, 0 for one claimed before
 * or gone (HSETNX on a missing key would create a record that never expires).
 */
const CLAIM_SCRIPT = `
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 and redis.call('HSETNX', key, 'metricsClaimed', '1') == 1 then
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
`;

/** KEYS[1] an idempotency key, ARGV[1] a claim: deletes the key if it still holds the claim. */
const RELEASE_CLAIM_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** KEYS[1] the bucket, ARGV[1] the window in ms; returns `{count, pttl}`. */
const RATE_LIMIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if count == 1 or ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

function checkStreamId(id: string): string {
  if (!STREAM_ID.test(id)) {
    throw new RnnlmError('RNNLM_INVALID_REQUEST', `not an event id: ${JSON.stringify(id)}`, {
      field: 'Last-Event-ID',
    });
  }
  return id;
}

function parseEvent(id: string, fields: string[]): JobEvent[] {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i] as string, fields[i + 1] as string);
  const type = jobEventTypeSchema.safeParse(map.get('type'));
  if (!type.success) return [];
  let data: unknown;
  try {
    data = JSON.parse(map.get('data') ?? '{}');
  } catch {
    return [];
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return [];
  return [{ id, type: type.data, data: data as Record<string, unknown> }];
}
