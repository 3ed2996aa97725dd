/**
 * What the metrics read of the queue: job counts by state, the jobs running now, and the
 * finished jobs each handed to exactly one API instance.
 */
import { readRecord, type JobStore } from './job-reads.js';
import { num, statusOf } from './job-records.js';
import { isJobId, type TrainingProgress, type TrainingQueue } from './training-queue.js';
import { QUEUE_STATES, type FinishedJob, type QueueState, type QueueStats } from './types.js';

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

/** Job counts by BullMQ state and the latest throughput of each running job. */
export async function queueStats(queue: TrainingQueue): Promise<QueueStats> {
  const [counts, active] = await Promise.all([
    queue.getJobCounts(...QUEUE_STATES),
    queue.getActive(0, RUNNING_PAGE - 1),
  ]);
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
export async function claimFinished(
  store: JobStore,
  since: number,
): Promise<{ jobs: FinishedJob[]; next: number }> {
  const { redis, keys, queue } = store;
  const found: { id: string; state: 'completed' | 'failed' }[] = [];
  let newest = since;
  let pageEnd = Number.POSITIVE_INFINITY;
  for (const state of ['completed', 'failed'] as const) {
    const key = queue.keys[state];
    if (key === undefined) continue;
    const raw = await redis.zrangebyscore(key, since, '+inf', 'WITHSCORES', 'LIMIT', 0, CLAIM_PAGE);
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
  const claimed = (await redis.eval(
    CLAIM_SCRIPT,
    found.length,
    ...found.map(({ id }) => keys.record(id)),
  )) as number[];
  const mine = found.filter((_, i) => claimed[i] === 1);
  const jobs = await Promise.all(
    mine.map(async ({ id, state }): Promise<FinishedJob | undefined> => {
      const [record, job] = await Promise.all([readRecord(store, id), queue.getJob(id)]);
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
