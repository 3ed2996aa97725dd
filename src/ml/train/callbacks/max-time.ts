import type { LoopControl, Stop, TrainingCallback } from './callback.js';

/** Ends the run before the first step after `maxMinutes` of training, resumes included. */
export class MaxTime implements TrainingCallback {
  constructor(private readonly maxMinutes: number) {}

  onStepBegin(loop: LoopControl): Stop {
    return loop.state.elapsedMs() >= this.maxMinutes * 60_000 ? 'maxMinutes' : undefined;
  }
}
