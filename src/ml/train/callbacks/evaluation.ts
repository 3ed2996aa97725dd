import { evaluate, type EvaluateOptions } from '../../eval/evaluate.js';
import type { LoopControl, Stop, TrainingCallback } from './callback.js';

/** The validation text (with its boundary prefix) and the characters it covers. */
export interface ValidationData {
  tokens: Int32Array;
  characters: number;
  scoredFrom: number;
}

/**
 * Evaluates on the validation text every `every` steps (when given), at the end of each epoch
 * and when training ends, skipping an evaluation of weights that were just evaluated.
 */
export class Evaluation implements TrainingCallback {
  constructor(
    private readonly validation: ValidationData,
    private readonly every: number | undefined,
    private readonly options: Omit<EvaluateOptions, 'scoredFrom'>,
  ) {}

  onStepEnd(loop: LoopControl): Stop | Promise<Stop> {
    const every = this.every;
    return every !== undefined && loop.state.step % every === 0 ? this.run(loop) : undefined;
  }

  onEpochEnd(loop: LoopControl): Stop | Promise<Stop> {
    return this.unlessJustEvaluated(loop);
  }

  async onTrainEnd(loop: LoopControl): Promise<void> {
    await this.unlessJustEvaluated(loop);
  }

  private unlessJustEvaluated(loop: LoopControl): Stop | Promise<Stop> {
    return loop.state.lastEvalStep !== loop.state.step ? this.run(loop) : undefined;
  }

  private async run(loop: LoopControl): Promise<Stop> {
    const { tokens, characters, scoredFrom } = this.validation;
    const result = await evaluate(loop.model, tokens, characters, { ...this.options, scoredFrom });
    return loop.evaluated(result);
  }
}
