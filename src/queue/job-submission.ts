/**
 * The writing half of a submission, after every check passed: the corpus to disk, the record,
 * index entry and first event, then one BullMQ job per idempotency key.
 */
import { createHash } from 'node:crypto';

import { errors, isDiskFull } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CorpusStore } from '../storage/corpus-store.js';
import type { CorpusRef, Job, TrainingJobData } from './contracts.js';
import { idempotencyClaim, parseIdempotencyClaim, requestFingerprint } from './idempotency.js';
import { readJob, type JobStore } from './job-reads.js';
import { isRedisUnavailable } from './redis-health.js';
import type { CheckedSubmission } from './submission-policy.js';
import { isJobId, JOB_RETENTION_SECONDS, newJobId } from './training-queue.js';
import type { SubmitInput } from './types.js';

/** KEYS[1] an idempotency key, ARGV[1] a claim: deletes the key if it still holds the claim. */
const RELEASE_CLAIM_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Options of {@link JobSubmitter}. */
export interface JobSubmitterOptions {
  store: JobStore;
  corpora: CorpusStore;
  logger?: Logger | undefined;
  /** How long a request with a known idempotency key waits for the first request to create its job. */
  idempotencyWaitMs: number;
}

/** Creates jobs from checked submissions. */
export class JobSubmitter {
  private readonly store: JobStore;
  private readonly corpora: CorpusStore;
  private readonly logger: Logger | undefined;
  private readonly idempotencyWaitMs: number;

  constructor(options: JobSubmitterOptions) {
    this.store = options.store;
    this.corpora = options.corpora;
    this.logger = options.logger;
    this.idempotencyWaitMs = options.idempotencyWaitMs;
  }

  /**
   * Creates the job of `input`, or finds the one the first request with `idempotencyKey`
   * created (`created: false`). On failure nothing of the job is left, and the key is free.
   */
  async create(
    input: SubmitInput,
    checked: CheckedSubmission,
    idempotencyKey: string | undefined,
  ): Promise<{ job: Job; created: boolean }> {
    const { redis, keys, queue } = this.store;
    const { config, corpus, validation, fraction } = checked;
    const id = newJobId();
    let idemKey: string | undefined;
    if (idempotencyKey !== undefined) {
      idemKey = keys.idempotency(createHash('sha256').update(idempotencyKey).digest('hex'));
      const fingerprint = requestFingerprint(input);
      const claim = idempotencyClaim(id, fingerprint);
      let existing: Job | undefined;
      try {
        existing = await this.claimIdempotencyKey(idemKey, claim, fingerprint);
      } catch (err) {
        // A frozen Redis runs the SET NX when it thaws: give the key back then, unless another
        // request holds it, so a retry is not refused as in flight for the key's lifetime.
        if (isRedisUnavailable(err)) {
          redis.eval(RELEASE_CLAIM_SCRIPT, 1, idemKey, claim).catch(() => undefined);
        }
        throw err;
      }
      if (existing !== undefined) return { job: existing, created: false };
    }
    try {
      const ref = await this.putCorpus(corpus.bytes);
      const validationRef: CorpusRef | undefined =
        validation === undefined ? undefined : await this.putCorpus(validation.bytes);
      const createdAt = new Date();
      const data: TrainingJobData = {
        name: input.name ?? id,
        corpus: ref,
        validation: validationRef === undefined ? { fraction } : { corpus: validationRef },
        config,
        ...(input.baseModel === undefined ? {} : { baseModel: input.baseModel }),
        createdAt: createdAt.toISOString(),
      };
      // The record and the first event go in before the job: a worker may start it at once.
      await redis
        .multi()
        .hset(keys.record(id), 'data', JSON.stringify(data))
        .zadd(keys.index, createdAt.getTime(), id)
        .xadd(keys.events(id), '*', 'type', 'status', 'data', JSON.stringify({ status: 'queued' }))
        .exec();
      await queue.add('train', data, { jobId: id });
      this.logger?.info({ jobId: id, corpusBytes: ref.bytes }, 'job submitted');
      const job = await readJob(this.store, id);
      if (job === undefined) throw new Error(`job ${id} vanished right after it was queued`);
      return { job, created: true };
    } catch (err) {
      // Undo the claim so a retry of the same request can create the job. Not awaited: when
      // Redis is frozen the commands above are still queued on this connection and run when
      // it thaws, and this undo, sent after them on the same connection, runs after them.
      const cleanup = redis.multi().del(keys.record(id), keys.events(id)).zrem(keys.index, id);
      if (idemKey !== undefined) cleanup.del(idemKey);
      cleanup.exec().catch(() => undefined);
      queue.remove(id).catch(() => undefined);
      throw err;
    }
  }

  /** Stores a corpus; a full disk is RNNLM_DISK_FULL, whose message says so and names no path. */
  private async putCorpus(bytes: Uint8Array): Promise<CorpusRef> {
    try {
      return await this.corpora.put(bytes);
    } catch (err) {
      throw isDiskFull(err) ? errors.diskFull(err) : err;
    }
  }

  /**
   * SET NX of key → id and the request's fingerprint: undefined when this request owns the
   * key, else the job the first request created (waiting briefly while that request is still
   * creating it). A key first used for a different request is a 422; one whose first request
   * is still being processed after the wait, a 409.
   */
  private async claimIdempotencyKey(
    key: string,
    claim: string,
    fingerprint: string,
  ): Promise<Job | undefined> {
    const { redis } = this.store;
    const deadline = Date.now() + this.idempotencyWaitMs;
    for (;;) {
      const claimed = await redis.set(key, claim, 'EX', JOB_RETENTION_SECONDS, 'NX');
      if (claimed === 'OK') return undefined;
      const owner = parseIdempotencyClaim(await redis.get(key));
      if (owner?.fingerprint !== undefined && owner.fingerprint !== fingerprint) {
        throw errors.idempotencyKeyReused(owner.id);
      }
      if (owner !== undefined) {
        const job = isJobId(owner.id) ? await readJob(this.store, owner.id) : undefined;
        if (job !== undefined) return job;
      }
      if (Date.now() > deadline) {
        throw errors.idempotencyKeyInUse(1);
      }
      await sleep(25);
    }
  }
}
