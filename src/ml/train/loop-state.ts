import { errors } from '../../errors.js';
import type { EvalResult } from '../eval/evaluate.js';
import type { NamedArray } from '../model/lm.js';
import { Rng } from '../rng.js';
import type { EvalRecord, TrainerState, TrainOptions } from './types.js';

/** The part of a checkpoint's state that the training loop owns (the rest describes the run). */
export type LoopSnapshot = Pick<
  TrainerState,
  | 'seed'
  | 'step'
  | 'epoch'
  | 'batchInEpoch'
  | 'epochSeed'
  | 'planRng'
  | 'dropoutRng'
  | 'learningRate'
  | 'bestValLoss'
  | 'evalsWithoutImprovement'
  | 'plateau'
  | 'elapsedMs'
  | 'trainedTokens'
  | 'history'
>;

/** What a checkpoint keeps of the loop: its state and the best weights beside it. */
export interface SavedLoop {
  state: LoopSnapshot;
  bestWeights?: NamedArray[] | undefined;
}

/**
 * Where a run stands: counters, random generators, learning rate, evaluation history and the
 * best weights. It restores itself from a checkpoint and saves itself into the next one, so a
 * resumed run continues the same trajectory. The callbacks read and update it.
 */
export class LoopState {
  readonly seed: number;
  /** Draws each epoch's plan seed. */
  readonly planRng: Rng;
  /** Draws the dropout masks. */
  readonly dropoutRng: Rng;
  step: number;
  epoch: number;
  /** Index of the next minibatch in the current epoch's plan. */
  batchInEpoch: number;
  /** Seed the current epoch's plan is drawn from. */
  epochSeed: number;
  /** The base learning rate of the coming steps. */
  learningRate: number;
  bestValLoss: number | null;
  /** Evaluations since the best one. */
  evalsWithoutImprovement: number;
  /** Evaluations without improvement since the best one or the last decay (see PlateauDecay). */
  plateau: number;
  trainedTokens: number;
  readonly history: EvalRecord[];
  /** The weights of the best evaluation so far. */
  bestWeights: NamedArray[] | undefined;
  /** The latest validation numbers. */
  latest: EvalResult | undefined;
  /** Step of the latest evaluation (-1 before the first). */
  lastEvalStep: number;
  /** Step of the latest checkpoint (-1 before the first). */
  lastCheckpointStep: number;
  /** Loss of the latest step. */
  lastLoss = Number.NaN;
  private readonly priorMs: number;
  private readonly started = performance.now();

  private constructor(seed: number, learningRate: number, saved: SavedLoop | undefined) {
    const s = saved?.state;
    this.seed = seed;
    this.planRng = new Rng(s?.planRng ?? seed ^ 0x5bd1e995);
    this.dropoutRng = new Rng(s?.dropoutRng ?? seed ^ 0x27d4eb2f);
    this.step = s?.step ?? 0;
    this.epoch = s?.epoch ?? 0;
    this.batchInEpoch = s?.batchInEpoch ?? 0;
    this.epochSeed = s?.epochSeed ?? this.planRng.seed();
    this.learningRate = s?.learningRate ?? learningRate;
    this.bestValLoss = s?.bestValLoss ?? null;
    this.evalsWithoutImprovement = s?.evalsWithoutImprovement ?? 0;
    this.plateau = s?.plateau ?? 0;
    this.priorMs = s?.elapsedMs ?? 0;
    this.trainedTokens = s?.trainedTokens ?? 0;
    this.history = [...(s?.history ?? [])];
    this.bestWeights = saved?.bestWeights;
    this.latest = this.history.at(-1);
    this.lastEvalStep = this.history.at(-1)?.step ?? -1;
    this.lastCheckpointStep = s?.step ?? -1;
  }

  /**
   * The state `checkpoint` was saved in (check it first with checkResumable), or without one
   * a fresh run's; `defaults` fill in what the checkpoint does not hold.
   */
  static restore(
    checkpoint: SavedLoop | undefined,
    defaults: { seed: number; learningRate: number },
  ): LoopState {
    return new LoopState(defaults.seed, defaults.learningRate, checkpoint);
  }

  /** This state as a checkpoint holds it; the best weights are saved beside it. */
  save(): LoopSnapshot {
    return {
      seed: this.seed,
      step: this.step,
      epoch: this.epoch,
      batchInEpoch: this.batchInEpoch,
      epochSeed: this.epochSeed,
      planRng: this.planRng.state(),
      dropoutRng: this.dropoutRng.state(),
      learningRate: this.learningRate,
      bestValLoss: this.bestValLoss,
      evalsWithoutImprovement: this.evalsWithoutImprovement,
      plateau: this.plateau,
      elapsedMs: this.elapsedMs(),
      trainedTokens: this.trainedTokens,
      history: this.history,
    };
  }

  /** Training time so far, across resumes. */
  elapsedMs(): number {
    return this.priorMs + performance.now() - this.started;
  }

  /** Counts a finished step of `tokens` tokens. */
  stepDone(loss: number, tokens: number): void {
    this.step++;
    this.batchInEpoch++;
    this.trainedTokens += tokens;
    this.lastLoss = loss;
  }

  /** Moves to the start of the next epoch, drawing the seed of its plan. */
  nextEpoch(): void {
    this.epoch++;
    this.batchInEpoch = 0;
    this.epochSeed = this.planRng.seed();
  }

  /**
   * Records an evaluation of the current weights; when it beats the best so far, `weights`
   * are kept as the best. Says whether it did.
   */
  recordEval(result: EvalResult, weights: () => NamedArray[]): { record: EvalRecord; improved: boolean } {
    const record: EvalRecord = { ...result, step: this.step, epoch: this.epoch };
    this.history.push(record);
    this.latest = result;
    this.lastEvalStep = this.step;
    const improved = this.bestValLoss === null || result.loss < this.bestValLoss;
    if (improved) {
      this.bestValLoss = result.loss;
      this.evalsWithoutImprovement = 0;
      this.bestWeights = weights();
    } else {
      this.evalsWithoutImprovement++;
    }
    return { record, improved };
  }
}

/** Refuses a checkpoint made with another format, other data or another model configuration. */
export function checkResumable(state: TrainerState, opts: TrainOptions): void {
  const mismatch = errors.checkpointMismatch;
  if (
    typeof state !== 'object' ||
    state.version !== 1 ||
    typeof state.data !== 'object' ||
    typeof state.config !== 'object' ||
    !Number.isInteger(state.step)
  ) {
    throw mismatch('checkpoint format');
  }
  if (state.data.trainTokens !== opts.train.length)
    throw mismatch(`training text (${state.data.trainTokens} tokens, now ${opts.train.length})`);
  if (state.data.validationTokens !== (opts.validation?.tokens.length ?? 0))
    throw mismatch('validation text');
  if (JSON.stringify(state.config.model) !== JSON.stringify(opts.config.model))
    throw mismatch('model configuration');
}
