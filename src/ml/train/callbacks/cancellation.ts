import { errors } from '../../../errors.js';
import type { LoopControl, TrainingCallback } from './callback.js';

/**
 * Stops the run before the next step once `signal` is aborted: saves a checkpoint, so the run
 * can be resumed where it stopped, and throws RNNLM_ABORTED, since an aborted run has no result.
 */
export class Cancellation implements TrainingCallback {
  constructor(private readonly signal: AbortSignal) {}

  async onStepBegin(loop: LoopControl): Promise<undefined> {
    if (!this.signal.aborted) return undefined;
    await loop.saveCheckpoint();
    throw errors.trainingStopped(loop.state.step, String(this.signal.reason ?? 'aborted'));
  }
}
