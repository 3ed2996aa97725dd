/**
 * Cancelling a job through Redis: a queued job is removed and recorded as cancelled; a running
 * one is flagged and its worker told (pub/sub) to stop.
 */
import { join } from 'node:path';

import { errors } from '../errors.js';
import type { Logger } from '../logger.js';
import { removeCheckpoint } from '../storage/checkpoints.js';
import type { Job } from './contracts.js';
import { readBullJob, readJob, readRecord, type JobStore } from './job-reads.js';
import { jobView } from './job-records.js';
import { appendEvent, expireJob } from './training-queue.js';

/**
 * Cancels job `id` (which must be a job id) and returns it as it is then; an unknown one is
 * undefined.
 *
 * @throws RNNLM_JOB_FINISHED (its `status` in the details) for a finished job.
 */
export async function cancelJob(
  store: JobStore,
  id: string,
  options: { checkpointsDir: string; logger?: Logger | undefined },
): Promise<Job | undefined> {
  const { redis, keys } = store;
  const { logger } = options;
  const record = await readRecord(store, id);
  if (record === undefined) return undefined;
  const { job, state } = await readBullJob(store, id);
  const current = jobView(id, record, job, state);
  if (current.status !== 'queued' && current.status !== 'running') {
    throw errors.jobFinished(id, current.status);
  }

  // The flag first: a worker that picks the job up from now on refuses to start it.
  await redis.hset(keys.record(id), 'cancelRequested', '1');
  await redis.publish(keys.cancelChannel, id);
  if (current.status === 'queued') {
    let removed = false;
    try {
      if (job !== undefined) await job.remove();
      removed = true;
    } catch (err) {
      // Locked: a worker took it in the meantime and will see the flag.
      logger?.debug({ jobId: id, err }, 'queued job could not be removed');
    }
    if (removed) {
      const finishedAt = new Date().toISOString();
      const { code, message } = errors.jobCancelled();
      const error = { code, message };
      await redis.hset(keys.record(id), {
        status: 'cancelled',
        finishedAt,
        error: JSON.stringify(error),
      });
      await appendEvent(redis, keys, id, 'status', { status: 'cancelled', error });
      await expireJob(redis, keys, id);
      // A job handed back by a worker that shut down may have left a checkpoint.
      await removeCheckpoint(join(options.checkpointsDir, id));
      logger?.info({ jobId: id }, 'queued job cancelled');
    }
  } else {
    await appendEvent(redis, keys, id, 'log', { message: 'cancellation requested' });
    logger?.info({ jobId: id }, 'running job told to stop');
  }
  return readJob(store, id);
}
