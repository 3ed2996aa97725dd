/**
 * Cursor-paginated listings of jobs, newest first, from the service's index (a sorted set of
 * job ids scored by creation time). Each batch of the index is read in one pipeline.
 */
import { errors } from '../errors.js';
import type { Job, JobStatus } from './contracts.js';
import { readJobs, type JobStore } from './job-reads.js';

/** A place in the index: a job's creation time (ms) and its id. */
interface Cursor {
  score: number;
  id: string;
}

/** What {@link listJobs} is asked for. */
export interface JobListQuery {
  status?: JobStatus | undefined;
  /** Jobs per page, clamped to 1..1000. */
  limit: number;
  /** The `nextCursor` of the previous page. */
  cursor?: string | undefined;
}

/** One page of jobs, and the cursor of the next one (null on the last page). */
export interface JobListPage {
  items: Job[];
  nextCursor: string | null;
}

function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.score}:${c.id}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): Cursor {
  const raw = Buffer.from(cursor, 'base64url').toString('utf8');
  const m = /^(\d{1,16}):(job_[a-z0-9]{26})$/.exec(raw);
  if (m === null) {
    throw errors.invalidRequest('cursor', 'not one this service returned');
  }
  return { score: Number(m[1]), id: m[2] as string };
}

/**
 * One page of jobs after `query.cursor`, newest first, with the status asked for. Index
 * entries whose record has expired are dropped from the index as they are met. The next
 * cursor is null only when nothing at all follows the page's last job in the index.
 */
export async function listJobs(store: JobStore, query: JobListQuery): Promise<JobListPage> {
  const limit = Math.max(1, Math.min(query.limit, 1000));
  let after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
  const items: Job[] = [];
  const batch = Math.max(limit * 2, 50);
  for (;;) {
    const page = await indexPage(store, after, batch);
    const jobs = await readJobs(
      store,
      page.map((entry) => entry.id),
    );
    const expired: string[] = [];
    let last: { entry: Cursor; at: number } | undefined;
    for (const [at, entry] of page.entries()) {
      after = entry;
      const job = jobs[at];
      if (job === undefined) {
        expired.push(entry.id);
        continue;
      }
      if (query.status !== undefined && job.status !== query.status) continue;
      items.push(job);
      if (items.length === limit) {
        last = { entry, at };
        break;
      }
    }
    // The job's record expired: drop it from the index too.
    if (expired.length > 0) await store.redis.zrem(store.keys.index, ...expired);
    if (last !== undefined) {
      const more = last.at + 1 < page.length || (await indexPage(store, last.entry, 1)).length > 0;
      return { items, nextCursor: more ? encodeCursor(last.entry) : null };
    }
    if (page.length < batch) return { items, nextCursor: null };
  }
}

/** Up to `count` index entries after `after`, newest first (ties by id, descending). */
async function indexPage(store: JobStore, after: Cursor | undefined, count: number): Promise<Cursor[]> {
  const max = after === undefined ? '+inf' : String(after.score);
  const out: Cursor[] = [];
  let offset = 0;
  // Entries with the cursor's own score but an id at or above it come first; skip them.
  for (;;) {
    const raw = await store.redis.zrevrangebyscore(
      store.keys.index,
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
