import type { EvalResult } from '../../eval/evaluate.js';
import type { RnnLm } from '../../model/lm.js';
import type { LoopState } from '../loop-state.js';
import type { StopReason } from '../types.js';

/** A callback's answer: the reason to end the run now, or undefined to go on. */
export type Stop = StopReason | undefined;

/** What the training loop lends its callbacks. */
export interface LoopControl {
  readonly state: LoopState;
  readonly model: RnnLm;
  /**
   * Records an evaluation of the current weights (history, best weights, the caller's
   * `onEval`) and passes it to every callback's `onEvalEnd`; returns the first reason to stop.
   */
  evaluated(result: EvalResult): Stop;
  /** Saves a checkpoint, unless one was saved at this step or the caller takes none. */
  saveCheckpoint(): Promise<void>;
}

/**
 * A piece of training policy that the loop calls at fixed points, in the manner of Keras and
 * tfjs-layers callbacks: a schedule or a stopping rule is one of these. Each hook may return a
 * reason to stop. The loop reports progress and takes its periodic checkpoint itself, after
 * the `onStepEnd` hooks, and the run ends after that step's progress report.
 */
export interface TrainingCallback {
  /** Before each step; a reason ends the run without taking the step. */
  onStepBegin?(loop: LoopControl): Stop | Promise<Stop>;
  /** After each step (`state.step` counts it). */
  onStepEnd?(loop: LoopControl): Stop | Promise<Stop>;
  /** After the last step of an epoch, once `state` points at the start of the next. */
  onEpochEnd?(loop: LoopControl): Stop | Promise<Stop>;
  /** After each evaluation; `improved` says whether it beat the best so far. */
  onEvalEnd?(loop: LoopControl, improved: boolean): Stop;
  /** Once the loop has ended, whatever the reason, before the best weights are restored. */
  onTrainEnd?(loop: LoopControl): void | Promise<void>;
}

/**
 * The callbacks of one run, called in order. The first reason to stop ends the round: the
 * callbacks after it are not called, so a cancellation never fires once a limit has already
 * ended the run, and the order of the list is the order in which the rules win.
 */
export class CallbackList {
  constructor(private readonly callbacks: readonly TrainingCallback[]) {}

  /** Calls `onStepBegin` in order; the first reason to stop. */
  async stepBegin(loop: LoopControl): Promise<Stop> {
    for (const c of this.callbacks) {
      const stop = await c.onStepBegin?.(loop);
      if (stop !== undefined) return stop;
    }
    return undefined;
  }

  /** Calls `onStepEnd` in order; the first reason to stop. */
  async stepEnd(loop: LoopControl): Promise<Stop> {
    for (const c of this.callbacks) {
      const stop = await c.onStepEnd?.(loop);
      if (stop !== undefined) return stop;
    }
    return undefined;
  }

  /** Calls `onEpochEnd` in order; the first reason to stop. */
  async epochEnd(loop: LoopControl): Promise<Stop> {
    for (const c of this.callbacks) {
      const stop = await c.onEpochEnd?.(loop);
      if (stop !== undefined) return stop;
    }
    return undefined;
  }

  /** Calls `onEvalEnd` in order; the first reason to stop. */
  evalEnd(loop: LoopControl, improved: boolean): Stop {
    for (const c of this.callbacks) {
      const stop = c.onEvalEnd?.(loop, improved);
      if (stop !== undefined) return stop;
    }
    return undefined;
  }

  /** Calls every `onTrainEnd`. */
  async trainEnd(loop: LoopControl): Promise<void> {
    for (const c of this.callbacks) await c.onTrainEnd?.(loop);
  }
}
