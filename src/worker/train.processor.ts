/**
 * The sandboxed training processor: BullMQ runs this module in a child process (see
 * training-worker.ts), so the tight training loop never starves the event loop that renews
 * the job's lock. It reads the corpus from the store, resumes from the job's checkpoint when
 * there is one, reports progress, metrics and checkpoints to the job and its event stream,
 * stops when the job is cancelled, and publishes the finished model atomically.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';

import type { SandboxedJob } from 'bullmq';

import { errors } from '../errors.js';
import { isJobId, modelIdOfJob } from '../ids.js';
import { trainFromText } from '../ml/training.js';
import { shortfallNote } from '../ml/train/shortfall.js';
import { trainingJobDataSchema, type TrainingJobData } from '../queue/contracts.js';
import { withServiceCaps } from '../queue/limits.js';
import { appendEvent, STOP_CANCELLED, STOP_SHUTDOWN, type TrainingResult } from '../queue/training-queue.js';
import { removeCheckpoint, writeCheckpoint } from '../storage/checkpoints.js';
import { removeLeftovers } from '../storage/fs-atomic.js';
import { alreadyPublished, loadBaseModel, loadResume, publishModel } from './train-artifacts.js';
import { setUp, trackJob, type Context } from './train-context.js';
import { asJobError, failure, unrecoverable } from './train-failure.js';
import { finite, JobProgress, type JobEvents } from './train-progress.js';

export { closeProcessor } from './train-context.js';

/** How often the cancel flag is read, besides the worker's immediate abort. */
const CANCEL_POLL_MS = 500;

/** The model id a job publishes to: derived from the job id, so a retry cannot publish twice. */
export { modelIdOfJob as modelIdFor } from '../ids.js';

function parseData(raw: unknown): TrainingJobData {
  const parsed = trainingJobDataSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw unrecoverable(
      errors.invalidConfig(`job data ${issue?.path.join('.') ?? ''}`, issue?.message ?? ''),
    );
  }
  return parsed.data;
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
    throw asJobError(err);
  }
  const jobId = job.id ?? '';
  if (!isJobId(jobId))
    throw unrecoverable(
      errors.invalidConfig('job id', `${JSON.stringify(jobId)} is not one this service made`),
    );
  const log = ctx.logger.child({ jobId, attempt: job.attemptsMade + 1 });
  const data = parseData(job.data);
  const event: JobEvents = (type, payload) => appendEvent(ctx.redis, ctx.keys, jobId, type, payload);
  const cancelRequested = async () =>
    (await ctx.redis.hget(ctx.keys.record(jobId), 'cancelRequested')) === '1';

  if (await cancelRequested()) throw unrecoverable(errors.jobCancelled());
  const modelId = modelIdOfJob(jobId);
  const checkpointDir = join(ctx.checkpointsDir, jobId);
  const published = await alreadyPublished(ctx, jobId, modelId);
  if (published !== undefined) {
    await removeCheckpoint(checkpointDir);
    await removeLeftovers(join(ctx.modelsDir, modelId));
    log.info({ modelId }, 'model was already published');
    return published;
  }

  const controller = new AbortController();
  const untrack = trackJob(controller);
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

  const engine = ctx.backend.nativeKernels === null ? 'tfjs' : 'onednn';
  const progress = new JobProgress(job, event, ctx.backend.name, engine);
  try {
    await event('status', {
      status: 'running',
      attempt: job.attemptsMade + 1,
      backend: ctx.backend.name,
      engine,
      worker: `${hostname()}:${process.pid}`,
    });
    const corpus = await ctx.corpora.read(data.corpus);
    const validationText =
      'corpus' in data.validation ? await ctx.corpora.read(data.validation.corpus) : undefined;
    const validationFraction = 'fraction' in data.validation ? data.validation.fraction : undefined;
    const resume = await loadResume(checkpointDir, log);
    if (resume !== undefined) {
      progress.resumed(resume.state);
      log.info({ step: resume.state.step }, 'resuming from checkpoint');
      await event('log', {
        message: `resumed from step ${resume.state.step}`,
        resumedFrom: resume.state.step,
      });
    }

    const base =
      data.baseModel === undefined ? undefined : await loadBaseModel(ctx.modelsDir, data.baseModel);
    const { result, artifacts } = await trainFromText({
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
      // Without a step or epoch cap of its own, the step count that bounds the run is the
      // service's limit: no end to show the user (0), the time budget's share is the progress.
      onProgress: (p) =>
        progress.onProgress(
          data.config.training.maxSteps === undefined && data.config.training.epochs === undefined
            ? { ...p, totalSteps: 0 }
            : p,
        ),
      onEval: (e) => progress.onEval(e),
      onCheckpoint: async (c) => {
        await writeCheckpoint(
          checkpointDir,
          { ...c, state: { ...c.state } },
          { pauseAfterFirstFileMs: ctx.config.RNNLM_TEST_CHECKPOINT_PAUSE_MS },
        );
        await event('checkpoint', { step: c.state.step, epoch: c.state.epoch });
        log.debug({ step: c.state.step }, 'checkpoint written');
      },
    });
    clearInterval(poll);

    const publishedFirst = await publishModel(ctx, {
      jobId,
      modelId,
      name: data.name,
      artifacts,
      model: result.model,
      checkpointDir,
    });
    if (publishedFirst !== undefined) {
      log.warn({ modelId }, 'another run of this job published the model first');
      return publishedFirst;
    }
    const best = artifacts.meta.metrics.best;
    await progress.finished(result);
    const note = shortfallNote(data.config.training.maxSteps, result);
    if (note !== undefined) {
      await event('log', {
        message: note,
        steps: result.steps,
        maxSteps: data.config.training.maxSteps,
        stopReason: result.stopReason,
      }).catch(() => undefined);
    }
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
      engine,
      steps: result.steps,
      stopReason: result.stopReason,
    };
    log.info({ modelId, steps: result.steps, stopReason: result.stopReason }, 'model published');
    return outcome;
  } catch (err) {
    clearInterval(poll);
    const lastStep = progress.step;
    // The view should show where training stopped, not the last throttled report.
    if (lastStep > 0) progress.report(true);
    throw await failure(err, { ctx, job, token, controller, checkpointDir, log, lastStep, cancelRequested });
  } finally {
    clearInterval(poll);
    signal?.removeEventListener('abort', onAbort);
    untrack();
  }
}
