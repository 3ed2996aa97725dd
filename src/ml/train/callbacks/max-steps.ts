import type { LoopControl, Stop, TrainingCallback } from './callback.js';

/** Ends the run before the step that would go past `totalSteps`. */
export class MaxSteps implements TrainingCallback {
  constructor(private readonly totalSteps: number) {}

  onStepBegin(loop: LoopControl): Stop {
    return loop.state.step >= this.totalSteps ? 'maxSteps' : undefined;
  }
}
