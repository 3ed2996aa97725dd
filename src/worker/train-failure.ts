/**
 * How a training job ends when training throws: cancelled, handed back for a shutdown or a
 * full disk, or failed (for good or to be retried), as BullMQ expects each.
 */
import { DelayedError, UnrecoverableError, type SandboxedJob } from 'bullmq';

import { errors, isDiskFull, isRnnlmError, redactPaths, RnnlmError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TrainingJobData } from '../queue/contracts.js';
import { appendEvent, encodeError, STOP_CANCELLED, type TrainingResult } from '../queue/training-queue.js';
import { removeCheckpoint } from '../storage/checkpoints.js';
import type { Context } from './train-context.js';

/** What the failed job was and where it stood. */
export interface FailureContext {
  ctx: Context;
  job: SandboxedJob<TrainingJobData, TrainingResult>;
  token: string | undefined;
  controller: AbortController;
  checkpointDir: string;
  log: Logger;
  lastStep: number;
  cancelRequested: () => Promise<boolean>;
}

/** A job error that BullMQ does not retry, with its code in the message. */
export function unrecoverable(err: RnnlmError): UnrecoverableError {
  return new UnrecoverableError(encodeError(err.code, err.message));
}

/** Turns what training threw into the error BullMQ should see, cleaning up as it goes. */
export async function failure(err: unknown, s: FailureContext): Promise<Error> {
  if (isRnnlmError(err, 'RNNLM_ABORTED')) {
    const cancelled = s.controller.signal.reason === STOP_CANCELLED || (await s.cancelRequested());
    if (cancelled) {
      await removeCheckpoint(s.checkpointDir);
      s.log.info({ step: s.lastStep }, 'training cancelled');
      return unrecoverable(errors.jobCancelled(s.lastStep));
    }
    // Shutting down: the trainer saved a checkpoint; put the job back for any worker.
    const interrupted = errors.jobInterrupted(s.lastStep);
    s.log.info({ step: s.lastStep }, 'training interrupted by shutdown; job handed back');
    try {
      await s.job.moveToDelayed(Date.now() + 1000, s.token);
      const jobId = s.job.id ?? '';
      await appendEvent(s.ctx.redis, s.ctx.keys, jobId, 'log', {
        message: `worker shutting down: job handed back at step ${s.lastStep}, to resume from its checkpoint`,
      });
      await appendEvent(s.ctx.redis, s.ctx.keys, jobId, 'status', { status: 'queued' });
      return new DelayedError(interrupted.message);
    } catch (moveErr) {
      s.log.warn({ err: moveErr }, 'could not hand the job back; it will be retried');
      // A plain error, not the unrecoverable one an RNNLM_ABORTED would be: it is retried.
      return new Error(encodeError(interrupted.code, interrupted.message));
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
async function waitForSpace(err: unknown, s: FailureContext): Promise<Error> {
  const waitMs = s.ctx.config.RNNLM_DISK_FULL_RETRY_MS;
  const full = errors.diskFull(err);
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
export function asJobError(err: unknown): Error {
  if (err instanceof UnrecoverableError) return err;
  if (err instanceof RnnlmError) {
    return err.retryable ? new Error(encodeError(err.code, err.message)) : unrecoverable(err);
  }
  // The job's error is shown to API clients: no server paths in it.
  const message = redactPaths(err instanceof Error ? err.message : String(err));
  return new Error(encodeError('RNNLM_INTERNAL', message));
}
