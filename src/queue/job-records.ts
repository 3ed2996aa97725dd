/**
 * A job as the service records it (a Redis hash beside BullMQ's job) and as the API shows it:
 * read by the job service and by the worker, which reports the job's final view.
 */
import type { JobState } from 'bullmq';

import {
  jobEngineSchema,
  trainingJobDataSchema,
  type Job,
  type JobStatus,
  type StopReason,
  type TrainingJobData,
} from './contracts.js';
import { decodeError, type TrainingProgress, type TrainingResult } from './training-queue.js';

/** The service's own facts about a job, kept in a Redis hash beside BullMQ's job. */
export interface JobRecord {
  data: TrainingJobData;
  cancelRequested: boolean;
  /** Set when the job ended without BullMQ finishing it (a queued job that was cancelled). */
  status: JobStatus | undefined;
  finishedAt: string | undefined;
  error: { code: string; message: string } | undefined;
}

export function parseRecord(hash: Record<string, string>): JobRecord | undefined {
  if (hash.data === undefined) return undefined;
  const data = trainingJobDataSchema.safeParse(JSON.parse(hash.data));
  if (!data.success) return undefined;
  let error: JobRecord['error'];
  if (hash.error !== undefined) error = JSON.parse(hash.error) as JobRecord['error'];
  return {
    data: data.data,
    cancelRequested: hash.cancelRequested === '1',
    status: hash.status === 'cancelled' ? 'cancelled' : undefined,
    finishedAt: hash.finishedAt,
    error,
  };
}

export function statusOf(state: JobState | 'unknown', record: JobRecord): JobStatus {
  if (record.status !== undefined) return record.status;
  switch (state) {
    case 'waiting':
    case 'delayed':
    case 'prioritized':
    case 'waiting-children':
    case 'unknown':
      return 'queued';
    case 'active':
      return 'running';
    case 'completed':
      return 'succeeded';
    case 'failed':
      return record.cancelRequested ? 'cancelled' : 'failed';
  }
}

/** A finite number, else null. */
export const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const int = (x: unknown): number => (typeof x === 'number' && Number.isInteger(x) ? x : 0);
const iso = (ms: number | undefined): string | undefined =>
  ms === undefined || ms === 0 ? undefined : new Date(ms).toISOString();

/**
 * What a job's view reads of its BullMQ job: a BullMQ `Job` has these, and so has what the
 * job service reads of a page of BullMQ's job hashes at once.
 */
export interface BullJobFacts {
  progress: unknown;
  returnvalue: TrainingResult | null | undefined;
  failedReason: string | undefined;
  processedOn?: number | undefined;
  finishedOn?: number | undefined;
}

/** The API's view of a job from its record and (when it still exists) its BullMQ job. */
export function jobView(
  id: string,
  record: JobRecord,
  job: BullJobFacts | undefined,
  state: JobState | 'unknown',
): Job {
  const status = statusOf(state, record);
  const progress: Partial<TrainingProgress> =
    job !== undefined && typeof job.progress === 'object' && job.progress !== null ? job.progress : {};
  const result = state === 'completed' ? (job?.returnvalue ?? undefined) : undefined;
  const view: Job = {
    id,
    name: record.data.name,
    status,
    progress: {
      epoch: int(progress.epoch),
      step: int(progress.step),
      totalSteps: int(progress.totalSteps),
      fraction: status === 'succeeded' ? 1 : Math.min(1, Math.max(0, num(progress.fraction) ?? 0)),
      learningRate: num(progress.learningRate),
      trainedTokens: int(progress.trainedTokens),
      elapsedSeconds: num(progress.elapsedSeconds) ?? 0,
      etaSeconds: status === 'running' ? num(progress.etaSeconds) : null,
    },
    metrics: {
      trainLoss: result?.metrics.trainLoss ?? num(progress.trainLoss),
      valLoss: result?.metrics.valLoss ?? num(progress.valLoss),
      valPerplexity: result?.metrics.valPerplexity ?? num(progress.valPerplexity),
      valBitsPerChar: result?.metrics.valBitsPerChar ?? num(progress.valBitsPerChar),
      tokensPerSecond: result?.metrics.tokensPerSecond ?? num(progress.tokensPerSecond),
    },
    config: record.data.config,
    validation:
      'fraction' in record.data.validation
        ? { fraction: record.data.validation.fraction }
        : { textBytes: record.data.validation.corpus.bytes },
    createdAt: record.data.createdAt,
  };
  if (record.data.baseModel !== undefined) view.baseModel = record.data.baseModel;
  const stopReason = stopReasonOf(status, result, errorOf(record, job));
  if (stopReason !== undefined) view.stopReason = stopReason;
  if (result?.modelId !== undefined) view.modelId = result.modelId;
  const backend = result?.backend ?? (typeof progress.backend === 'string' ? progress.backend : undefined);
  if (backend !== undefined) view.backend = backend;
  const engine = jobEngineSchema.safeParse(result?.engine ?? progress.engine);
  if (engine.success) view.engine = engine.data;
  if (status === 'failed' || status === 'cancelled') {
    if (record.error !== undefined) view.error = record.error;
    else if (job?.failedReason) view.error = decodeError(job.failedReason);
  }
  const startedAt = iso(job?.processedOn);
  if (startedAt !== undefined) view.startedAt = startedAt;
  const finishedAt =
    record.finishedAt ?? (state === 'completed' || state === 'failed' ? iso(job?.finishedOn) : undefined);
  if (finishedAt !== undefined) view.finishedAt = finishedAt;
  return view;
}

function errorOf(record: JobRecord, job: BullJobFacts | undefined): { code: string } | undefined {
  if (record.error !== undefined) return record.error;
  return job?.failedReason ? decodeError(job.failedReason) : undefined;
}

/** Why a finished job stopped; undefined while it runs and for failures other than divergence. */
function stopReasonOf(
  status: JobStatus,
  result: TrainingResult | undefined,
  error: { code: string } | undefined,
): StopReason | undefined {
  if (status === 'cancelled') return 'cancelled';
  if (status === 'succeeded') return result?.stopReason;
  if (status === 'failed' && error?.code === 'RNNLM_NONFINITE_LOSS') return 'diverged';
  return undefined;
}
