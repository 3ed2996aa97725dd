/**
 * Progress of a training job as its viewers see it: the job's progress field and the
 * `progress` and `metrics` events of its stream, throttled so that reports never slow the loop.
 */
import type { SandboxedJob } from 'bullmq';

import type { EvalRecord, Progress, TrainerState, TrainResult } from '../ml/train/trainer.js';
import type { JobEngine, TrainingJobData } from '../queue/contracts.js';
import type { appendEvent, TrainingProgress, TrainingResult } from '../queue/training-queue.js';

/** Least time between two progress reports. */
const PROGRESS_EVERY_MS = 250;

/** Appends an event of one type to the job's stream. */
export type JobEvents = (
  type: Parameters<typeof appendEvent>[3],
  payload: Record<string, unknown>,
) => Promise<unknown>;

/** A number for JSON: null where the trainer has none or it is not finite. */
export function finite(x: number | undefined): number | null {
  return x === undefined || !Number.isFinite(x) ? null : x;
}

/** Follows one job's training and reports it. */
export class JobProgress {
  private latest: TrainingProgress;
  private reportedAt = 0;

  constructor(
    private readonly job: SandboxedJob<TrainingJobData, TrainingResult>,
    private readonly event: JobEvents,
    backend: string,
    engine: JobEngine,
  ) {
    this.latest = {
      epoch: 0,
      step: 0,
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
      backend,
      engine,
    };
  }

  /** The step training has reached (that of a checkpoint it resumes from, before its first step). */
  get step(): number {
    return this.latest.step;
  }

  /** Starts from where a checkpoint left off. */
  resumed(state: TrainerState): void {
    this.latest = {
      ...this.latest,
      step: state.step,
      epoch: state.epoch,
      learningRate: state.learningRate,
      trainedTokens: state.trainedTokens ?? 0,
      elapsedSeconds: state.elapsedMs / 1000,
    };
  }

  /** Takes in a step's progress; reported at most every PROGRESS_EVERY_MS, and always at the last step. */
  onProgress(p: Progress): void {
    this.latest = {
      ...this.latest,
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
    this.report(p.step === p.totalSteps);
  }

  /** Takes in an evaluation and appends it to the stream as a `metrics` event. */
  onEval(e: EvalRecord): void {
    this.latest = {
      ...this.latest,
      valLoss: finite(e.loss),
      valPerplexity: finite(e.perplexity),
      valBitsPerChar: finite(e.bitsPerChar),
    };
    this.event('metrics', {
      step: e.step,
      epoch: e.epoch,
      valLoss: finite(e.loss),
      valPerplexity: finite(e.perplexity),
      valBitsPerChar: finite(e.bitsPerChar),
      // As of the last step's report: an evaluation runs between two steps.
      learningRate: this.latest.learningRate,
      trainedTokens: this.latest.trainedTokens,
      elapsedSeconds: this.latest.elapsedSeconds,
      etaSeconds: this.latest.etaSeconds,
    }).catch(() => undefined);
  }

  /** Reports now unless a report went out less than PROGRESS_EVERY_MS ago; `force` reports anyway. */
  report(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.reportedAt < PROGRESS_EVERY_MS) return;
    this.reportedAt = now;
    const progress = this.latest;
    // Not awaited: a report must not slow the loop; failures only cost a report.
    this.job.updateProgress(progress as unknown as Record<string, unknown>).catch(() => undefined);
    this.event('progress', { ...progress }).catch(() => undefined);
  }

  /** The last report of a run that finished, with why it stopped; awaited, unlike the others. */
  async finished(result: TrainResult): Promise<void> {
    this.latest = {
      ...this.latest,
      fraction: 1,
      step: result.steps,
      totalSteps: Math.max(this.latest.totalSteps, result.steps),
      trainedTokens: result.trainedTokens,
      elapsedSeconds: result.elapsedMs / 1000,
      etaSeconds: 0,
    };
    await this.job.updateProgress(this.latest);
    await this.event('progress', { ...this.latest, stopReason: result.stopReason });
  }
}
