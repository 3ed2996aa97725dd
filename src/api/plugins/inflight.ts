import { errors } from '../../errors.js';

/** Seconds a client is told to wait when every generation slot is taken. */
export const INFLIGHT_RETRY_AFTER_SECONDS = 1;

/**
 * A cap on work in flight (generations: each holds a model and the CPU for as long as it runs).
 * `acquire()` takes a slot or throws 503 `RNNLM_OVERLOADED`; the caller releases the slot in a
 * `finally`, so a stream that ends, fails or whose client went away gives it back.
 */
export class InflightLimiter {
  readonly max: number;
  #active = 0;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${max}`);
    this.max = max;
  }

  get active(): number {
    return this.#active;
  }

  /** Takes a slot; the function it returns gives it back (a second call does nothing). */
  acquire(): () => void {
    if (this.#active >= this.max) {
      throw errors.generationsBusy(this.max, INFLIGHT_RETRY_AFTER_SECONDS);
    }
    this.#active++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
    };
  }
}
