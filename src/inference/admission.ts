import type { AdmissionLoad, RequestKind } from '../contracts/models.js';
import { errors } from '../errors.js';

/** Seconds a client is told to wait when every row and every place in the queue is taken. */
export const QUEUE_RETRY_AFTER_SECONDS = 1;

/**
 * The API side's count of the requests the inference thread holds: per model and kind, the
 * first `maxRows` have a row and the rest wait, first come first served, as the thread's
 * schedulers run them. A request that would wait when `maxQueued` already do is refused with
 * 503 `RNNLM_OVERLOADED` at once, never left to hang.
 */
export class Admission {
  private readonly inflight = new Map<string, number>();
  private readonly load: AdmissionLoad = {
    active: { generate: 0, score: 0 },
    waiting: { generate: 0, score: 0 },
  };

  constructor(
    private readonly maxRows: number,
    private readonly maxQueued: number,
  ) {}

  private get waitingTotal(): number {
    return this.load.waiting.generate + this.load.waiting.score;
  }

  /** @throws RnnlmError `RNNLM_OVERLOADED` (with `retryAfterSeconds`) when the request could not even wait. */
  check(kind: RequestKind, modelId: string): void {
    const n = this.inflight.get(`${kind}/${modelId}`) ?? 0;
    if (n >= this.maxRows && this.waitingTotal >= this.maxQueued) {
      throw errors.batchQueueFull(this.maxRows, this.maxQueued, QUEUE_RETRY_AFTER_SECONDS);
    }
  }

  /** Takes a row or a place in the queue (see {@link check}); the function it returns gives it back. */
  enter(kind: RequestKind, modelId: string): () => void {
    this.check(kind, modelId);
    const key = `${kind}/${modelId}`;
    const n = this.inflight.get(key) ?? 0;
    this.inflight.set(key, n + 1);
    if (n >= this.maxRows) this.load.waiting[kind]++;
    else this.load.active[kind]++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      const now = this.inflight.get(key) ?? 1;
      // The first waiter, if any, takes the row this request leaves.
      if (now > this.maxRows) this.load.waiting[kind]--;
      else this.load.active[kind]--;
      if (now === 1) this.inflight.delete(key);
      else this.inflight.set(key, now - 1);
    };
  }

  snapshot(): AdmissionLoad {
    return { active: { ...this.load.active }, waiting: { ...this.load.waiting } };
  }
}
