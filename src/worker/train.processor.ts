/**
 * The sandboxed training processor: BullMQ runs this module in a child process (see
 * training-worker.ts), so the tight training loop never starves the event loop that renews
 * the job's lock. It reads the corpus from the store, resumes from the job's checkpoint when
 * there is one, reports progress, metrics and checkpoints to the job and its event stream,
 * stops when the job is cancelled, and publishes the finished model atomically.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';

import { DelayedError, UnrecoverableError, type SandboxedJob } from 'bullmq';
import type { Redis } from 'ioredis';

import { dataDirs, loadConfig, type Config } from '../config.js';
import { diskFull, isDiskFull, isRnnlmError, redactPaths, RnnlmError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { initBackend, type BackendInfo } from '../ml/backend.js';
import { nativeStatus } from '../ml/native.js';
import { baseModelFromArtifacts, type BaseModel } from '../ml/fine-tune.js';
import { trainFromText, type TrainerCheckpoint } from '../ml/pipeline.js';
import type { TrainerState } from '../ml/train/trainer.js';
import { readModelDir, readModelMeta, writeModelDir } from '../storage/artifacts.js';
import { removeLeftovers } from '../storage/fs-atomic.js';
import {
  checkpointExists,
  readCheckpoint,
  removeCheckpoint,
  writeCheckpoint,
} from '../storage/checkpoints.js';
import { CorpusStore } from '../storage/corpus-store.js';
import { isJobId } from '../contracts/ids.js';
import { closeConnection, createWorkerConnection } from '../queue/connection.js';
import { stopReasonSchema, trainingJobDataSchema, type TrainingJobData } from '../queue/contracts.js';
import { withServiceCaps } from '../queue/limits.js';
import {
  appendEvent,
  encodeError,
  serviceKeys,
  STOP_CANCELLED,
  STOP_SHUTDOWN,
  type ServiceKeys,
  type TrainingProgress,
  type TrainingResult,
} from '../queue/training-queue.js';

/** How often the cancel flag is read, besides the worker's immediate abort. */
const CANCEL_POLL_MS = 500;
/** Least time between two progress reports. */
const PROGRESS_EVERY_MS = 250;

interface Context {
  config: Config;
  logger: Logger;
  redis: Redis;
  keys: ServiceKeys;
  backend: BackendInfo;
  corpora: CorpusStore;
  modelsDir: string;
  checkpointsDir: string;
}

let context: Promise<Context> | undefined;
/** Aborts the job running in this process, for signals sent to the process itself. */
let current: AbortController | undefined;

function setUp(): Promise<Context> {
  context ??= (async () => {
    const config = loadConfig();
    const logger = createLogger(config, { base: { role: 'trainer' }, pretty: false });
    const backend = await initBackend(
      config.RNNLM_BACKEND,
      config.RNNLM_NATIVE_KERNELS,
      config.RNNLM_THREADS,
    );
    const redis = createWorkerConnection(config, 'rnnlm-trainer');
    redis.on('error', (err) => logger.debug({ err }, 'redis connection error'));
    const dirs = dataDirs(config);
    // Ctrl-C in a terminal reaches the whole process group and `docker stop` sends
    // SIGTERM: either way, checkpoint and hand the job back instead of finishing it.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => current?.abort(STOP_SHUTDOWN));
    // The worker that forked us is gone (killed): its job will be picked up elsewhere and
    // resumed from the last checkpoint, so this process must not keep writing to it.
    if (process.send !== undefined) process.once('disconnect', () => process.exit(1));
    logger.info({ backend: backend.name, kernels: nativeStatus() }, 'trainer process ready');
    return {
      config,
      logger,
      redis,
      keys: serviceKeys(config.RNNLM_QUEUE_PREFIX),
      backend,
      corpora: new CorpusStore(dirs.corpora),
      modelsDir: dirs.models,
      checkpointsDir: dirs.checkpoints,
    };
  })();
  return context;
}

/** The model id a job publishes to: derived from the job id, so a retry cannot publish twice. */
export function modelIdFor(jobId: string): string {
  return `mdl_${jobId.slice('job_'.length)}`;
}

function unrecoverable(code: string, message: string): UnrecoverableError {
  return new UnrecoverableError(encodeError(code, message));
}

function parseData(raw: unknown): TrainingJobData {
  const parsed = trainingJobDataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw unrecoverable(
      'RNNLM_INVALID_CONFIG',
      `job data ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}`,
    );
  }
  return parsed.data;
}

async function loadResume(dir: string, log: Logger): Promise<TrainerCheckpoint | undefined> {
  if (!(await checkpointExists(dir))) return undefined;
  try {
    const stored = await readCheckpoint(dir);
    // The store keeps the trainer's state opaque; the trainer checks it before using it.
    return { ...stored, state: stored.state as unknown as TrainerState };
  } catch (err) {
    if (!isRnnlmError(err, 'RNNLM_ARTIFACT_CORRUPT')) throw err;
    log.warn({ err }, 'checkpoint is damaged; starting over');
    await removeCheckpoint(dir);
    return undefined;
  }
}

/** A job whose model is already published (the worker died before recording the result). */
async function alreadyPublished(
  ctx: Context,
  jobId: string,
  modelId: string,
): Promise<TrainingResult | undefined> {
  let meta: Record<string, unknown>;
  try {
    meta = await readModelMeta(join(ctx.modelsDir, modelId));
  } catch (err) {
    if (isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND')) return undefined;
    throw err;
  }
  if (meta.jobId !== jobId) return undefined;
  const metrics = (meta.metrics as { best?: TrainingResult['metrics'] } | undefined)?.best;
  const training = meta.training as
    { tokensPerSecond?: number; steps?: number; stopReason?: unknown } | undefined;
  const stopReason = stopReasonSchema.safeParse(training?.stopReason);
  const backend = (meta.backend as { name?: string } | undefined)?.name ?? ctx.backend.name;
  return {
    modelId,
    metrics: {
      trainLoss: metrics?.trainLoss ?? null,
      valLoss: metrics?.valLoss ?? null,
      valPerplexity: metrics?.valPerplexity ?? null,
      valBitsPerChar: metrics?.valBitsPerChar ?? null,
      tokensPerSecond: training?.tokensPerSecond ?? null,
    },
    backend,
    steps: training?.steps ?? 0,
    stopReason: stopReason.success ? stopReason.data : undefined,
  };
}

/**
 * Trains one job. Errors leave as BullMQ expects them: a cancelled job or input that can
 * never succeed as UnrecoverableError (not retried), a stop for shutdown as DelayedError
 * after moving the job back (resumed from its checkpoint later, no attempt used up), and
 * anything else as a plain error that is retried with backoff. Messages carry the error
 * code (`RNNLM_X: message`) so the job view can report it.
 */
export default async function processTrainingJob(
  job: SandboxedJob<TrainingJobData, TrainingResult>,
  token?: string,
  signal?: AbortSignal,
): Promise<TrainingResult> {
  let ctx: Context;
  try {
    ctx = await setUp();
  } catch (err) {
    // Try again on the next job (a backend may load once its library is installed).
    context = undefined;
    throw asJobError(err);
  }
  const jobId = job.id ?? '';
  if (!isJobId(jobId)) throw unrecoverable('RNNLM_INVALID_CONFIG', `not a job id: ${JSON.stringify(jobId)}`);
  const log = ctx.logger.child({ jobId, attempt: job.attemptsMade + 1 });
  const data = parseData(job.data);
  const event = (type: Parameters<typeof appendEvent>[3], payload: Record<string, unknown>) =>
    appendEvent(ctx.redis, ctx.keys, jobId, type, payload);
  const cancelRequested = async () =>
    (await ctx.redis.hget(ctx.keys.record(jobId), 'cancelRequested')) === '1';

  if (await cancelRequested()) throw unrecoverable('RNNLM_ABORTED', 'cancelled before it started');
  const modelId = modelIdFor(jobId);
  const checkpointDir = join(ctx.checkpointsDir, jobId);
  const published = await alreadyPublished(ctx, jobId, modelId);
  if (published !== undefined) {
    await removeCheckpoint(checkpointDir);
    await removeLeftovers(join(ctx.modelsDir, modelId));
    log.info({ modelId }, 'model was already published');
    return published;
  }

  const controller = new AbortController();
  current = controller;
  const onAbort = () => controller.abort(signal?.reason === STOP_CANCELLED ? STOP_CANCELLED : STOP_SHUTDOWN);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted === true) onAbort();
  const poll = setInterval(() => {
    cancelRequested().then(
      (yes) => {
        if (yes) controller.abort(STOP_CANCELLED);
      },
      (err: unknown) => log.debug({ err }, 'cancel flag unreadable'),
    );
  }, CANCEL_POLL_MS);

  let lastStep = 0;
  let latest: TrainingProgress = {
    epoch: 0,
    step: lastStep,
    totalSteps: 0,
    fraction: 0,
    learningRate: null,
    trainedTokens: 0,
    elapsedSeconds: 0,
    etaSeconds: null,
    trainLoss: null,
    valLoss: null,
    valPerplexity: null,
    valBitsPerChar: null,
    tokensPerSecond: null,
    backend: ctx.backend.name,
  };
  let reportedAt = 0;
  const report = (force: boolean) => {
    const now = Date.now();
    if (!force && now - reportedAt < PROGRESS_EVERY_MS) return;
    reportedAt = now;
    const progress = latest;
    // Not awaited: a report must not slow the loop; failures only cost a report.
    job.updateProgress(progress as unknown as Record<string, unknown>).catch(() => undefined);
    event('progress', { ...progress }).catch(() => undefined);
  };
  try {
    await event('status', {
      status: 'running',
      attempt: job.attemptsMade + 1,
      backend: ctx.backend.name,
      worker: `${hostname()}:${process.pid}`,
    });
    const corpus = await ctx.corpora.read(data.corpus);
    const validationText =
      'corpus' in data.validation ? await ctx.corpora.read(data.validation.corpus) : undefined;
    const validationFraction = 'fraction' in data.validation ? data.validation.fraction : undefined;
    const resume = await loadResume(checkpointDir, log);
    if (resume !== undefined) {
      lastStep = resume.state.step;
      latest = {
        ...latest,
        step: resume.state.step,
        epoch: resume.state.epoch,
        learningRate: resume.state.learningRate,
        trainedTokens: resume.state.trainedTokens ?? 0,
        elapsedSeconds: resume.state.elapsedMs / 1000,
      };
      log.info({ step: resume.state.step }, 'resuming from checkpoint');
      await event('log', {
        message: `resumed from step ${resume.state.step}`,
        resumedFrom: resume.state.step,
      });
    }

    const finite = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? null : x);

    const base =
      data.baseModel === undefined ? undefined : await loadBaseModel(ctx.modelsDir, data.baseModel);
    const trained = await trainFromText({
      corpus,
      validationText,
      validationFraction,
      config: withServiceCaps(ctx.config, data.config),
      base,
      onPrepared: ({ tokens, unknownTokens }) => {
        if (base === undefined) return;
        const share = tokens > 0 ? unknownTokens / tokens : 0;
        event('log', {
          message: `fine-tuning ${base.id}: ${unknownTokens} of ${tokens} tokens (${(100 * share).toFixed(2)}%) are not in its vocabulary and map to <unk>`,
          baseModel: base.id,
          tokens,
          unknownTokens,
        }).catch(() => undefined);
      },
      backend: ctx.backend,
      resume,
      signal: controller.signal,
      onProgress: (p) => {
        lastStep = p.step;
        latest = {
          ...latest,
          epoch: p.epoch,
          step: p.step,
          totalSteps: p.totalSteps,
          fraction: Math.min(1, Math.max(0, p.fraction)),
          learningRate: finite(p.learningRate),
          trainedTokens: p.trainedTokens,
          elapsedSeconds: p.elapsedMs / 1000,
          etaSeconds: finite(p.eta),
          trainLoss: finite(p.trainLoss),
          valLoss: finite(p.valLoss),
          valPerplexity: finite(p.valPerplexity),
          tokensPerSecond: finite(p.tokensPerSecond),
        };
        report(p.step === p.totalSteps);
      },
      onEval: (e) => {
        latest = {
          ...latest,
          valLoss: finite(e.loss),
          valPerplexity: finite(e.perplexity),
          valBitsPerChar: finite(e.bitsPerChar),
        };
        event('metrics', {
          step: e.step,
          epoch: e.epoch,
          valLoss: finite(e.loss),
          valPerplexity: finite(e.perplexity),
          valBitsPerChar: finite(e.bitsPerChar),
          // As of the last step's report: an evaluation runs between two steps.
          learningRate: latest.learningRate,
          trainedTokens: latest.trainedTokens,
          elapsedSeconds: latest.elapsedSeconds,
          etaSeconds: latest.etaSeconds,
        }).catch(() => undefined);
      },
      onCheckpoint: async (c) => {
        await writeCheckpoint(checkpointDir, { ...c, state: { ...c.state } });
        await event('checkpoint', { step: c.state.step, epoch: c.state.epoch });
        log.debug({ step: c.state.step }, 'checkpoint written');
      },
    });
    clearInterval(poll);

    const { result, artifacts } = trained;
    const modelDir = join(ctx.modelsDir, modelId);
    let publishedFirst: TrainingResult | undefined;
    try {
      await writeModelDir(modelDir, {
        ...artifacts,
        meta: { ...artifacts.meta, id: modelId, jobId, name: data.name },
      });
    } catch (err) {
      // A run of this job that lost its lock (Redis dropped its worker's connections) may
      // have gone on training beside this one and published first: that model is this
      // job's and complete, so this run succeeds with it.
      if (!isRnnlmError(err, 'RNNLM_INVALID_CONFIG')) throw err;
      publishedFirst = await alreadyPublished(ctx, jobId, modelId);
      if (publishedFirst === undefined) throw err;
    } finally {
      result.model.dispose();
    }
    // Runs killed while publishing left their temporary directories behind.
    await removeLeftovers(modelDir);
    await removeCheckpoint(checkpointDir);
    if (publishedFirst !== undefined) {
      log.warn({ modelId }, 'another run of this job published the model first');
      return publishedFirst;
    }
    const best = artifacts.meta.metrics.best;
    latest = {
      ...latest,
      fraction: 1,
      step: result.steps,
      totalSteps: Math.max(latest.totalSteps, result.steps),
      trainedTokens: result.trainedTokens,
      elapsedSeconds: result.elapsedMs / 1000,
      etaSeconds: 0,
    };
    await job.updateProgress(latest);
    await event('progress', { ...latest, stopReason: result.stopReason });
    const outcome: TrainingResult = {
      modelId,
      metrics: {
        trainLoss: best.trainLoss,
        valLoss: best.valLoss,
        valPerplexity: best.valPerplexity,
        valBitsPerChar: best.valBitsPerChar,
        tokensPerSecond: finite(result.tokensPerSecond),
      },
      backend: ctx.backend.name,
      steps: result.steps,
      stopReason: result.stopReason,
    };
    log.info({ modelId, steps: result.steps, stopReason: result.stopReason }, 'model published');
    return outcome;
  } catch (err) {
    clearInterval(poll);
    // The view should show where training stopped, not the last throttled report.
    if (lastStep > 0) report(true);
    throw await failure(err, { ctx, job, token, controller, checkpointDir, log, lastStep, cancelRequested });
  } finally {
    clearInterval(poll);
    signal?.removeEventListener('abort', onAbort);
    if (current === controller) current = undefined;
  }
}

/** Turns what training threw into the error BullMQ should see, cleaning up as it goes. */
async function failure(
  err: unknown,
  s: {
    ctx: Context;
    job: SandboxedJob<TrainingJobData, TrainingResult>;
    token: string | undefined;
    controller: AbortController;
    checkpointDir: string;
    log: Logger;
    lastStep: number;
    cancelRequested: () => Promise<boolean>;
  },
): Promise<Error> {
  if (isRnnlmError(err, 'RNNLM_ABORTED')) {
    const cancelled = s.controller.signal.reason === STOP_CANCELLED || (await s.cancelRequested());
    if (cancelled) {
      await removeCheckpoint(s.checkpointDir);
      s.log.info({ step: s.lastStep }, 'training cancelled');
      return unrecoverable('RNNLM_ABORTED', `cancelled at step ${s.lastStep}`);
    }
    // Shutting down: the trainer saved a checkpoint; put the job back for any worker.
    s.log.info({ step: s.lastStep }, 'training interrupted by shutdown; job handed back');
    try {
      await s.job.moveToDelayed(Date.now() + 1000, s.token);
      const jobId = s.job.id ?? '';
      await appendEvent(s.ctx.redis, s.ctx.keys, jobId, 'log', {
        message: `worker shutting down: job handed back at step ${s.lastStep}, to resume from its checkpoint`,
      });
      await appendEvent(s.ctx.redis, s.ctx.keys, jobId, 'status', { status: 'queued' });
      return new DelayedError(`interrupted at step ${s.lastStep} by worker shutdown`);
    } catch (moveErr) {
      s.log.warn({ err: moveErr }, 'could not hand the job back; it will be retried');
      return new Error(encodeError('RNNLM_ABORTED', `interrupted at step ${s.lastStep} by worker shutdown`));
    }
  }
  if (isDiskFull(err)) return waitForSpace(err, s);
  if (err instanceof RnnlmError) {
    if (!err.retryable) {
      await removeCheckpoint(s.checkpointDir);
      s.log.warn({ code: err.code, msg: err.message }, 'job failed for good');
    } else {
      s.log.warn({ code: err.code, msg: err.message }, 'job failed; it may be retried');
    }
  } else {
    s.log.error({ err }, 'job failed unexpectedly; it may be retried');
  }
  return asJobError(err);
}

/**
 * Out of disk space: more attempts would fail the same way until space is freed, so the job
 * goes back to the queue, delayed, without using up an attempt, and resumes from its last
 * checkpoint (the stores leave nothing half-written behind).
 */
async function waitForSpace(err: unknown, s: Parameters<typeof failure>[1]): Promise<Error> {
  const waitMs = s.ctx.config.RNNLM_DISK_FULL_RETRY_MS;
  const full = diskFull(err);
  const jobId = s.job.id ?? '';
  try {
    await s.job.moveToDelayed(Date.now() + waitMs, s.token);
    await appendEvent(s.ctx.redis, s.ctx.keys, jobId, 'log', {
      code: full.code,
      message: `${full.code}: ${full.message}; trying again in ${Math.round(waitMs / 1000)} s from step ${s.lastStep}`,
    });
    await appendEvent(s.ctx.redis, s.ctx.keys, jobId, 'status', { status: 'queued' });
    s.log.warn({ code: full.code, step: s.lastStep, waitMs }, 'out of disk space; job waits for space');
    return new DelayedError(`out of disk space at step ${s.lastStep}`);
  } catch (moveErr) {
    s.log.warn({ err: moveErr }, 'could not put the job back to wait for space; it will be retried');
    return asJobError(full);
  }
}

/** A coded error as BullMQ should see it: unrecoverable unless retrying may help. */
function asJobError(err: unknown): Error {
  if (err instanceof UnrecoverableError) return err;
  if (err instanceof RnnlmError) {
    return err.retryable
      ? new Error(encodeError(err.code, err.message))
      : unrecoverable(err.code, err.message);
  }
  // The job's error is shown to API clients: no server paths in it.
  const message = redactPaths(err instanceof Error ? err.message : String(err));
  return new Error(encodeError('RNNLM_INTERNAL', message));
}

/** Closes this process's Redis connection (tests that run the processor in-process). */
export async function closeProcessor(): Promise<void> {
  const ctx = await context;
  context = undefined;
  if (ctx !== undefined) await closeConnection(ctx.redis);
}

/** The weights, tokenizer and configuration a fine-tuning job starts from. */
async function loadBaseModel(modelsDir: string, id: string): Promise<BaseModel> {
  return baseModelFromArtifacts(id, await readModelDir(join(modelsDir, id)));
}
