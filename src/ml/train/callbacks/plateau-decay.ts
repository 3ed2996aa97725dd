import type { LoopControl, Stop, TrainingCallback } from './callback.js';

/**
 * Multiplies the learning rate by `decay` once more than `patience` evaluations in a row fail
 * to improve on the best, then counts again from zero. The count lives in the loop state
 * (`plateau`), so it survives a resume.
 */
export class PlateauDecay implements TrainingCallback {
  constructor(
    private readonly patience: number,
    private readonly decay: number,
  ) {}

  onEvalEnd(loop: LoopControl, improved: boolean): Stop {
    const state = loop.state;
    if (improved) {
      state.plateau = 0;
      return undefined;
    }
    state.plateau++;
    if (state.plateau > this.patience) {
      state.learningRate *= this.decay;
      state.plateau = 0;
    }
    return undefined;
  }
}
