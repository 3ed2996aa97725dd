/** The trainer's public shapes: its options, what it reports, its checkpoint and its result. */
import type { BackendInfo } from '../backend.js';
import type { ModelConfig, RunConfig } from '../config.js';
import type { EvalResult } from '../eval/evaluate.js';
import type { NamedArray, RnnLm } from '../model/lm.js';
import type { RngState } from '../rng.js';
import type { TokenizerJSON } from '../tokenizers/types.js';

/** What a progress callback receives after every step. */
export interface Progress {
  epoch: number;
  step: number;
  totalSteps: number;
  /** Mean NLL per token of this step's minibatch (nats). */
  trainLoss: number;
  /** Latest validation numbers (undefined before the first evaluation). */
  valLoss: number | undefined;
  valPerplexity: number | undefined;
  /** Training tokens per second over the recent steps. */
  tokensPerSecond: number;
  /** Estimated seconds to the end: the sooner of the step-based and the time-based end. */
  eta: number;
  /** Share of the run done, by whichever bound (steps or `maxMinutes`) ends it sooner. */
  fraction: number;
  /** The learning rate of the coming steps (after any decay on a plateau). */
  learningRate: number;
  /** Tokens trained on so far, across resumes. */
  trainedTokens: number;
  /** Training time so far, across resumes. */
  elapsedMs: number;
}

/** One evaluation on the validation text, and when in the run it happened. */
export interface EvalRecord extends EvalResult {
  step: number;
  epoch: number;
}

/** A record of one step, for callers that plot or compare trajectories. */
export interface StepRecord {
  step: number;
  loss: number;
  gradNorm: number;
  learningRate: number;
  tokens: number;
}

/** The trainer's resumable state: with the weights and optimizer moments it is a checkpoint. */
export interface TrainerState {
  version: 1;
  config: RunConfig;
  modelConfig: ModelConfig;
  tokenizer: TokenizerJSON;
  backend: string;
  seed: number;
  step: number;
  epoch: number;
  /** Index of the next minibatch in the current epoch's plan. */
  batchInEpoch: number;
  /** Seed the current epoch's plan was drawn from (the plan is rebuilt from it on resume). */
  epochSeed: number;
  planRng: RngState;
  dropoutRng: RngState;
  learningRate: number;
  bestValLoss: number | null;
  evalsWithoutImprovement: number;
  plateau: number;
  elapsedMs: number;
  /** Tokens trained on so far; absent from checkpoints made before it was kept. */
  trainedTokens?: number | undefined;
  history: EvalRecord[];
  /** Token counts, to refuse a checkpoint resumed on different data. */
  data: { trainTokens: number; validationTokens: number };
}

/** Everything a checkpoint holds, in the storage layer's shape. */
export interface TrainerCheckpoint {
  weights: NamedArray[];
  /** Optimizer moments, plus the carried hidden state under `carry/…` names. */
  optimizer: NamedArray[];
  bestWeights?: NamedArray[] | undefined;
  state: TrainerState;
}

/** Why a run ended: every epoch done, a limit reached, or validation stopped improving. */
export type StopReason = 'epochs' | 'maxSteps' | 'maxMinutes' | 'earlyStopping';

/** What a finished run hands back. */
export interface TrainResult {
  /** The trained model (the best weights when validation was available). */
  model: RnnLm;
  steps: number;
  epochs: number;
  stopReason: StopReason;
  trainLoss: number;
  /** Validation numbers of the returned weights. */
  validation: EvalResult | undefined;
  tokensPerSecond: number;
  elapsedMs: number;
  trainedTokens: number;
  history: EvalRecord[];
}

/** What to train on, where to start from, and who hears about it. */
export interface TrainOptions {
  config: RunConfig;
  tokenizer: TokenizerJSON;
  vocabSize: number;
  train: Int32Array;
  /** Validation tokens (with the boundary prefix) and the characters they cover. */
  validation?: { tokens: Int32Array; characters: number; scoredFrom: number } | undefined;
  backend: BackendInfo;
  /** Used when the config has no seed. */
  defaultSeed?: number | undefined;
  resume?: TrainerCheckpoint | undefined;
  /** Weights to start from instead of a fresh initialisation (fine-tuning); a checkpoint's win. */
  initialWeights?: NamedArray[] | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: Progress) => void) | undefined;
  onStep?: ((s: StepRecord) => void) | undefined;
  onEval?: ((e: EvalRecord) => void) | undefined;
  /** Persists a checkpoint; awaited, so training waits until it is on disk. */
  onCheckpoint?: ((c: TrainerCheckpoint) => Promise<void>) | undefined;
}
