import type { FastifyBaseLogger } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from 'prom-client';

import { dataDirs } from '../../config.js';
import type { InferenceStats, ModelService } from '../../contracts/models.js';
import { DATA_KINDS, measureDataDir, type DataUsage } from '../../storage/data-dir.js';
import type { JobService } from '../../queue/types.js';
import type { InflightLimiter } from './inflight.js';
import { errorResponses, text as textResponse } from '../schemas/common.js';

/** Label of requests that matched no route, so unknown URLs cannot grow the label set. */
export const UNMATCHED_ROUTE = '(unmatched)';

/** How long a scrape waits for Redis before answering without the queue's metrics. */
const QUEUE_TIMEOUT_MS = 1000;

/**
 * How old the data directory's figures may be before a scrape has it walked again: a walk
 * costs one lstat per entry and per file in it, too much to repeat on every scrape of a large
 * volume.
 */
const DATA_SCAN_MAX_AGE_MS = 60_000;

/** How long a scrape waits for a walk of the data directory before answering with the last figures. */
const DATA_SCAN_WAIT_MS = 1000;

/**
 * Jobs that finished this long before the instance started are still reported if no instance
 * has claimed them: the finish times are the workers' clocks, not this one's.
 */
const FINISHED_LOOKBACK_MS = 60_000;

/** What {@link ApiMetrics} reads at scrape time. */
export interface ApiMetricsSources {
  jobs: JobService;
  models: ModelService;
  generations: InflightLimiter;
  logger: FastifyBaseLogger;
  /** The data directory (`RNNLM_DATA_DIR`), measured by kind; absent: no data series. */
  dataDir?: string | undefined;
}

/** Observes the time `work` takes in `histogram` (with an `outcome` label) and counts its tokens. */
async function timed<T extends { tokens: number }>(
  histogram: Histogram<string>,
  labels: LabelValues<string>,
  tokens: Counter,
  work: () => Promise<T>,
): Promise<T> {
  const end = histogram.startTimer(labels);
  let result: T;
  try {
    result = await work();
  } catch (err) {
    end({ outcome: 'error' });
    throw err;
  }
  end({ outcome: 'ok' });
  tokens.inc(result.tokens);
  return result;
}

/**
 * The API's Prometheus metrics, in a registry of its own (never prom-client's global one, so
 * several apps in one process keep apart), with Node's process metrics beside them.
 * Requests and inference are observed as they happen; the queue and the model cache are read
 * when `/metrics` is scraped.
 */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'rnnlm_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  private readonly generationDuration = new Histogram({
    name: 'rnnlm_generation_duration_seconds',
    help: 'Time to generate text (loading the model on a cache miss included), by stream and outcome.',
    labelNames: ['stream', 'outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly generatedTokens = new Counter({
    name: 'rnnlm_generated_tokens_total',
    help: 'Tokens generated.',
    registers: [this.registry],
  });
  private readonly scoringDuration = new Histogram({
    name: 'rnnlm_scoring_duration_seconds',
    help: 'Time to score a text (loading the model on a cache miss included), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });
  private readonly scoredTokens = new Counter({
    name: 'rnnlm_scored_tokens_total',
    help: 'Tokens scored.',
    registers: [this.registry],
  });
  private readonly queueUp = new Gauge({
    name: 'rnnlm_queue_up',
    help: '1 when this scrape read the queue from Redis, 0 when it could not (the job metrics are then left out).',
    registers: [this.registry],
  });
  private readonly jobsByState = new Gauge({
    name: 'rnnlm_jobs',
    help: 'Jobs in the queue by BullMQ state; completed and failed ones count while they are retained.',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  private readonly trainingTokensPerSecond = new Gauge({
    name: 'rnnlm_training_tokens_per_second',
    help: 'Training throughput each running job last reported.',
    labelNames: ['job_id'] as const,
    registers: [this.registry],
  });
  private readonly jobsFinished = new Counter({
    name: 'rnnlm_jobs_finished_total',
    help: 'Jobs a worker finished, by status; each is counted by one API instance only.',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  private readonly jobDuration = new Histogram({
    name: 'rnnlm_job_duration_seconds',
    help: 'Time from the start of a finished job’s last attempt to its end, by status.',
    labelNames: ['status'] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400],
    registers: [this.registry],
  });
  private readonly cacheHits = new Counter({
    name: 'rnnlm_model_cache_hits_total',
    help: 'Generations and scorings that found their model loaded.',
    registers: [this.registry],
  });
  private readonly cacheMisses = new Counter({
    name: 'rnnlm_model_cache_misses_total',
    help: 'Generations and scorings that had to load their model.',
    registers: [this.registry],
  });
  private readonly cacheEvictions = new Counter({
    name: 'rnnlm_model_cache_evictions_total',
    help: 'Models dropped from the cache to make room for another.',
    registers: [this.registry],
  });
  private readonly cacheSize = new Gauge({
    name: 'rnnlm_model_cache_size',
    help: 'Models loaded (or loading) in memory.',
    registers: [this.registry],
  });
  private readonly cacheCapacity = new Gauge({
    name: 'rnnlm_model_cache_capacity',
    help: 'Models the cache keeps at most (RNNLM_MODEL_CACHE_SIZE).',
    registers: [this.registry],
  });
  private readonly inflight = new Gauge({
    name: 'rnnlm_generations_in_flight',
    help: 'Generations running now in this process.',
    registers: [this.registry],
  });

  private readonly batchRows = new Histogram({
    name: 'rnnlm_inference_batch_rows',
    help: 'Rows each batched forward stepped together (generations: one token each; scorings: one chunk each), by kind.',
    labelNames: ['kind'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: 'rnnlm_inference_queue_wait_seconds',
    help: 'Time a generation or scoring waited for a batch row, by kind.',
    labelNames: ['kind'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly activeRows = new Gauge({
    name: 'rnnlm_inference_active_rows',
    help: 'Generations and scorings holding a batch row now, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly waitingRequests = new Gauge({
    name: 'rnnlm_inference_waiting_requests',
    help: 'Generations and scorings waiting for a batch row now, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  private readonly dataBytes = new Gauge({
    name: 'rnnlm_data_bytes',
    help: 'Bytes under the data directory by kind (models, checkpoints, corpora, debris), as of a walk at most a minute old.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly dataEntries = new Gauge({
    name: 'rnnlm_data_entries',
    help: 'Entries directly under models/, checkpoints/ and corpora/ by kind, as of a walk at most a minute old.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  private readonly sources: ApiMetricsSources;
  /** The last walk of the data directory, and the one running. */
  private dataUsage: { at: number; usage: DataUsage } | undefined;
  private dataWalk: Promise<void> | undefined;
  /** Where the next scan for finished jobs starts (ms, the workers' clocks). */
  private finishedSince = Date.now() - FINISHED_LOOKBACK_MS;

  constructor(sources: ApiMetricsSources) {
    this.sources = sources;
    collectDefaultMetrics({ register: this.registry });
  }

  /** Runs a generation, observing its time, its outcome and the tokens it made. */
  timeGeneration<T extends { tokens: number }>(stream: boolean, work: () => Promise<T>): Promise<T> {
    return timed(this.generationDuration, { stream: String(stream) }, this.generatedTokens, work);
  }

  /** Runs a scoring, observing its time, its outcome and the tokens it scored. */
  timeScoring<T extends { tokens: number }>(work: () => Promise<T>): Promise<T> {
    return timed(this.scoringDuration, {}, this.scoredTokens, work);
  }

  /** The exposition text, after reading what is only known at scrape time. */
  async scrape(): Promise<string> {
    this.readModelCache();
    this.inflight.set(this.sources.generations.active);
    await this.readInference();
    await this.readDataDir();
    let timer: NodeJS.Timeout | undefined;
    const queue = this.readQueue().then(
      () => true,
      (err: unknown) => {
        this.sources.logger.warn({ err }, 'metrics: could not read the queue');
        return false;
      },
    );
    const up = await Promise.race([
      queue,
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), QUEUE_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    this.queueUp.set(up ? 1 : 0);
    if (!up) {
      this.jobsByState.reset();
      this.trainingTokensPerSecond.reset();
    }
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private readModelCache(): void {
    const stats = this.sources.models.cacheStats();
    // The store keeps the totals; a counter is set to them by reset + inc (both synchronous).
    for (const [counter, value] of [
      [this.cacheHits, stats.hits],
      [this.cacheMisses, stats.misses],
      [this.cacheEvictions, stats.evictions],
    ] as const) {
      counter.reset();
      counter.inc(value);
    }
    this.cacheSize.set(stats.size);
    this.cacheCapacity.set(stats.capacity);
  }

  /**
   * Sets the data series from the last walk, first walking again when that one is over a
   * minute old. One walk at a time, and a scrape waits for it a second at most: a slower one
   * goes on and the next scrape reports it.
   */
  private async readDataDir(): Promise<void> {
    const { dataDir, logger } = this.sources;
    if (dataDir === undefined) return;
    if (this.dataUsage === undefined || Date.now() - this.dataUsage.at > DATA_SCAN_MAX_AGE_MS) {
      this.dataWalk ??= measureDataDir(dataDirs({ RNNLM_DATA_DIR: dataDir }))
        .then(
          (usage) => {
            this.dataUsage = { at: Date.now(), usage };
          },
          (err: unknown) => logger.warn({ err }, 'metrics: could not measure the data directory'),
        )
        .finally(() => {
          this.dataWalk = undefined;
        });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.dataWalk,
        new Promise((resolve) => (timer = setTimeout(resolve, DATA_SCAN_WAIT_MS))),
      ]);
      clearTimeout(timer);
    }
    if (this.dataUsage === undefined) return;
    for (const kind of DATA_KINDS) {
      this.dataBytes.set({ kind }, this.dataUsage.usage[kind].bytes);
      this.dataEntries.set({ kind }, this.dataUsage.usage[kind].entries);
    }
  }

  private async readInference(): Promise<void> {
    const { models } = this.sources;
    if (models.inferenceStats === undefined) return;
    let stats: InferenceStats;
    try {
      stats = await models.inferenceStats();
    } catch (err) {
      this.sources.logger.warn({ err }, 'metrics: could not read the inference thread');
      return;
    }
    for (const { kind, rows, count } of stats.batches) {
      for (let i = 0; i < count; i++) this.batchRows.observe({ kind }, rows);
    }
    for (const { kind, seconds } of stats.queueWaits) this.queueWait.observe({ kind }, seconds);
    for (const kind of ['generate', 'score'] as const) {
      this.activeRows.set({ kind }, stats.active[kind]);
      this.waitingRequests.set({ kind }, stats.waiting[kind]);
    }
  }

  private async readQueue(): Promise<void> {
    const { jobs } = this.sources;
    if (jobs.queueStats !== undefined) {
      const stats = await jobs.queueStats();
      this.jobsByState.reset();
      for (const [state, count] of Object.entries(stats.counts)) this.jobsByState.set({ state }, count);
      this.trainingTokensPerSecond.reset();
      for (const { id, tokensPerSecond } of stats.running) {
        if (tokensPerSecond !== null) this.trainingTokensPerSecond.set({ job_id: id }, tokensPerSecond);
      }
    }
    if (jobs.claimFinished !== undefined) {
      // Claimed in Redis, so with several API instances each finished job is observed by one
      // of them and the sum over instances counts it once.
      const { jobs: finished, next } = await jobs.claimFinished(this.finishedSince);
      this.finishedSince = Math.max(this.finishedSince, next);
      for (const { status, durationSeconds } of finished) {
        this.jobsFinished.inc({ status });
        if (durationSeconds !== null) this.jobDuration.observe({ status }, durationSeconds);
      }
    }
  }
}

/**
 * `GET /metrics` in the Prometheus text format, and the request-duration histogram, observed
 * for every route (by its pattern, `/jobs/:id`, never the raw URL) once the answer is sent.
 */
export const metricsPlugin = fp<{ metrics: ApiMetrics }>(
  (app, { metrics }, done) => {
    app.addHook('onResponse', (request, reply, hookDone) => {
      metrics.httpDuration.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? UNMATCHED_ROUTE,
          status_code: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
      hookDone();
    });
    const schema = {
      tags: ['service'],
      operationId: 'metrics',
      summary: 'Prometheus metrics of this API instance',
      description: [
        'The Prometheus text exposition format (0.0.4): request durations by route pattern,',
        'generation and scoring latencies, the model cache, jobs by state, the training tokens/s',
        'of running jobs, finished jobs and their durations, the bytes and entries under the data',
        'directory by kind (from a walk at most a minute old), and the process metrics (README.md,',
        '"Metrics", lists every one). With API keys it needs one like every other operation',
        '(Prometheus sends it with `authorization: { credentials: <key> }`). It answers even when',
        'the server is overloaded; when Redis does not answer within a second, `rnnlm_queue_up`',
        'is 0 and the job series are left out.',
      ].join(' '),
      response: { 200: textResponse('text/plain', 'The metrics.'), 401: errorResponses.unauthorized },
    };
    app.get('/metrics', { schema }, async (_request, reply) => {
      const text = await metrics.scrape();
      return reply.type(metrics.contentType).send(text);
    });
    done();
  },
  { name: 'rnnlm-metrics', fastify: '5.x' },
);
