import type { LoopControl, Stop, TrainingCallback } from './callback.js';

/**
 * Ends the run once `patience` evaluations in a row have failed to improve on the best; the
 * trainer then hands back the best weights.
 */
export class EarlyStopping implements TrainingCallback {
  constructor(private readonly patience: number) {}

  onEvalEnd(loop: LoopControl, improved: boolean): Stop {
    return !improved && loop.state.evalsWithoutImprovement >= this.patience ? 'earlyStopping' : undefined;
  }
}
