/**
 * The files a training job reads and writes: its checkpoint, the base model it fine-tunes
 * and the model it publishes, which another run of the same job may have published first.
 */
import { join } from 'node:path';

import { isRnnlmError } from '../errors.js';
import type { Logger } from '../logger.js';
import { baseModelFromArtifacts, type BaseModel } from '../ml/fine-tune.js';
import type { TrainedArtifacts } from '../ml/artifacts.js';
import type { TrainerCheckpoint } from '../ml/train/trainer.js';
import type { RnnLm } from '../ml/model/lm.js';
import type { TrainerState } from '../ml/train/trainer.js';
import { stopReasonSchema } from '../queue/contracts.js';
import type { TrainingResult } from '../queue/training-queue.js';
import { readModelDir, readModelMeta, writeModelDir } from '../storage/artifacts.js';
import { checkpointExists, readCheckpoint, removeCheckpoint } from '../storage/checkpoints.js';
import { removeLeftovers } from '../storage/fs-atomic.js';
import type { Context } from './train-context.js';

/** The job's checkpoint, or undefined when it has none or it is damaged (then removed). */
export async function loadResume(dir: string, log: Logger): Promise<TrainerCheckpoint | undefined> {
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
export async function alreadyPublished(
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

/** The weights, tokenizer and configuration a fine-tuning job starts from. */
export async function loadBaseModel(modelsDir: string, id: string): Promise<BaseModel> {
  return baseModelFromArtifacts(id, await readModelDir(join(modelsDir, id)));
}

/**
 * Publishes a trained model as `modelId` (disposing `model`), then removes the job's
 * checkpoint. Returns the result of another run of this job that published first, if one did.
 */
export async function publishModel(
  ctx: Context,
  p: {
    jobId: string;
    modelId: string;
    name: string | undefined;
    artifacts: TrainedArtifacts;
    model: RnnLm;
    checkpointDir: string;
  },
): Promise<TrainingResult | undefined> {
  const modelDir = join(ctx.modelsDir, p.modelId);
  let publishedFirst: TrainingResult | undefined;
  try {
    await writeModelDir(modelDir, {
      ...p.artifacts,
      meta: { ...p.artifacts.meta, id: p.modelId, jobId: p.jobId, name: p.name },
    });
  } catch (err) {
    // A run of this job that lost its lock (Redis dropped its worker's connections) may
    // have gone on training beside this one and published first: that model is this
    // job's and complete, so this run succeeds with it.
    if (!isRnnlmError(err, 'RNNLM_INVALID_CONFIG')) throw err;
    publishedFirst = await alreadyPublished(ctx, p.jobId, p.modelId);
    if (publishedFirst === undefined) throw err;
  } finally {
    p.model.dispose();
  }
  // Runs killed while publishing left their temporary directories behind.
  await removeLeftovers(modelDir);
  await removeCheckpoint(p.checkpointDir);
  return publishedFirst;
}
