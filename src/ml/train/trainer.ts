import * as tf from '@tensorflow/tfjs';

import { RnnlmError } from '../../errors.js';
import type { BackendInfo } from '../backend.js';
import type { ModelConfig, RunConfig } from '../config.js';
import { fillBatch, planEpoch, type Minibatch, type PartitionOptions } from '../data/partition.js';
import { evaluate, type EvalResult } from '../eval/evaluate.js';
import type { LayerState } from '../model/layer.js';
import { disposeState, RnnLm, type NamedArray } from '../model/lm.js';
import { Rng, type RngState } from '../rng.js';
import type { TokenizerJSON } from '../tokenizers/types.js';
import { clipGradients } from './clip.js';
import { createOptimizer } from './optimizers.js';

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

const RATE_WINDOW = 20;

/**
 * A loss this far above a uniform guess (ln V nats) only comes from exploded weights: with
 * saturated units float32 can stay finite for a long time while the run is already lost.
 */
function divergenceLimit(vocabSize: number): number {
  return 10 * Math.log(vocabSize) + 10;
}

/**
 * Truncated-BPTT training of an RnnLm. Deterministic for a given seed and backend: all
 * randomness (initialisation, epoch plans, dropout masks) comes from seeded generators whose
 * state goes into checkpoints, so a resumed run continues the same trajectory.
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const { config, train: tokens, validation, signal } = opts;
  const t = config.training;
  const modelConfig: ModelConfig = { ...config.model, vocabSize: opts.vocabSize };
  const partition: PartitionOptions = {
    numTokens: tokens.length,
    batchSize: t.batchSize,
    seqLength: t.seqLength,
    partition: t.partition,
    truncation: t.truncation,
  };

  const resume = opts.resume;
  if (resume !== undefined) checkResumable(resume.state, opts);
  const seed = resume?.state.seed ?? t.seed ?? opts.defaultSeed ?? 0;
  const start = resume?.weights ?? opts.initialWeights;
  const model = start !== undefined ? RnnLm.fromWeights(modelConfig, start) : RnnLm.create(modelConfig, seed);
  const optimizer = createOptimizer(t.optimizer);
  let carried: LayerState[] | undefined;
  try {
    const s = resume?.state;
    const planRng = new Rng(s?.planRng ?? seed ^ 0x5bd1e995);
    const dropoutRng = new Rng(s?.dropoutRng ?? seed ^ 0x27d4eb2f);
    let step = s?.step ?? 0;
    let epoch = s?.epoch ?? 0;
    let batchInEpoch = s?.batchInEpoch ?? 0;
    let epochSeed = s?.epochSeed ?? planRng.seed();
    let learningRate = s?.learningRate ?? t.learningRate;
    let bestValLoss = s?.bestValLoss ?? null;
    let evalsWithoutImprovement = s?.evalsWithoutImprovement ?? 0;
    let plateau = s?.plateau ?? 0;
    const history: EvalRecord[] = [...(s?.history ?? [])];
    let bestWeights = resume?.bestWeights;
    if (resume !== undefined) {
      optimizer.setState(resume.optimizer.filter((a) => !a.name.startsWith('carry/')));
      carried = stateFromArrays(resume.optimizer, modelConfig);
    }

    let plan = planEpoch(partition, new Rng(epochSeed));
    const stepsPerEpoch = plan.length;
    const totalSteps = Math.min(t.maxSteps ?? Infinity, t.epochs * stepsPerEpoch);
    const divergedAbove = divergenceLimit(opts.vocabSize);
    const started = performance.now();
    const priorMs = s?.elapsedMs ?? 0;
    const elapsed = () => priorMs + performance.now() - started;
    const recent: { ms: number; tokens: number }[] = [];
    let lastLoss = Number.NaN;
    let latest: EvalResult | undefined = history.at(-1);
    let lastEvalStep = history.at(-1)?.step ?? -1;
    let stopReason: StopReason = 'epochs';
    let trainedTokens = s?.trainedTokens ?? 0;
    let lastCheckpointStep = s?.step ?? -1;

    const checkpoint = (): TrainerCheckpoint => ({
      weights: model.getWeights(),
      optimizer: [...optimizer.getState(), ...stateToArrays(carried)],
      bestWeights,
      state: {
        version: 1,
        config,
        modelConfig,
        tokenizer: opts.tokenizer,
        backend: opts.backend.name,
        seed,
        step,
        epoch,
        batchInEpoch,
        epochSeed,
        planRng: planRng.state(),
        dropoutRng: dropoutRng.state(),
        learningRate,
        bestValLoss,
        evalsWithoutImprovement,
        plateau,
        elapsedMs: elapsed(),
        trainedTokens,
        history,
        data: { trainTokens: tokens.length, validationTokens: validation?.tokens.length ?? 0 },
      },
    });

    const runEval = async (): Promise<boolean> => {
      if (validation === undefined) return false;
      const result = await evaluate(model, validation.tokens, validation.characters, {
        batchSize: t.evalBatchSize,
        seqLength: t.seqLength,
        scoredFrom: validation.scoredFrom,
      });
      const record: EvalRecord = { ...result, step, epoch };
      history.push(record);
      latest = result;
      lastEvalStep = step;
      opts.onEval?.(record);
      if (bestValLoss === null || result.loss < bestValLoss) {
        bestValLoss = result.loss;
        evalsWithoutImprovement = 0;
        plateau = 0;
        bestWeights = model.getWeights();
        return false;
      }
      evalsWithoutImprovement++;
      plateau++;
      if (plateau > t.lrPatience) {
        learningRate *= t.lrDecay;
        plateau = 0;
      }
      return t.earlyStoppingPatience !== undefined && evalsWithoutImprovement >= t.earlyStoppingPatience;
    };

    const x = new Int32Array(0);
    let buffers = { x, y: x };
    training: while (epoch < t.epochs) {
      while (batchInEpoch < plan.length) {
        if (step >= totalSteps) {
          stopReason = 'maxSteps';
          break training;
        }
        if (t.maxMinutes !== undefined && elapsed() >= t.maxMinutes * 60_000) {
          stopReason = 'maxMinutes';
          break training;
        }
        if (signal?.aborted === true) {
          if (opts.onCheckpoint !== undefined && lastCheckpointStep !== step)
            await opts.onCheckpoint(checkpoint());
          throw new RnnlmError(
            'RNNLM_ABORTED',
            `training stopped at step ${step}: ${String(signal.reason ?? 'aborted')}`,
          );
        }
        const mb = plan[batchInEpoch] as Minibatch;
        const size = mb.length * t.batchSize;
        if (buffers.x.length !== size) buffers = { x: new Int32Array(size), y: new Int32Array(size) };
        fillBatch(tokens, mb, buffers.x, buffers.y);
        if (mb.resetState || carried === undefined) {
          if (carried !== undefined) disposeState(carried);
          carried = model.zeroState(t.batchSize);
        }
        const stepStart = performance.now();
        const { loss, gradNorm, state } = await trainStep(model, optimizer, {
          x: buffers.x,
          y: buffers.y,
          steps: mb.length,
          batch: t.batchSize,
          state: carried,
          rng: dropoutRng,
          backwardScale: mb.backwardScale,
          learningRate: learningRate * mb.lrScale,
          clipNorm: t.clipNorm,
          clipValue: t.clipValue,
        });
        disposeState(carried);
        carried = state;
        if (!Number.isFinite(loss) || !Number.isFinite(gradNorm) || loss > divergedAbove) {
          throw new RnnlmError(
            'RNNLM_NONFINITE_LOSS',
            `training diverged at step ${step + 1}: loss ${loss} (a uniform guess scores ${Math.log(opts.vocabSize).toFixed(2)}), gradient norm ${gradNorm}, learning rate ${learningRate}; lower the learning rate or the clip norm`,
            { step: step + 1, loss, gradNorm, learningRate },
          );
        }
        step++;
        batchInEpoch++;
        trainedTokens += size;
        lastLoss = loss;
        recent.push({ ms: performance.now() - stepStart, tokens: size });
        if (recent.length > RATE_WINDOW) recent.shift();
        const tokensPerSecond = rate(recent);
        const msPerStep = recent.reduce((a, r) => a + r.ms, 0) / recent.length;
        opts.onStep?.({ step, loss, gradNorm, learningRate: learningRate * mb.lrScale, tokens: size });

        let stop = false;
        if (t.evalEvery !== undefined && step % t.evalEvery === 0) stop = await runEval();
        opts.onProgress?.({
          epoch,
          step,
          totalSteps,
          trainLoss: loss,
          valLoss: latest?.loss,
          valPerplexity: latest?.perplexity,
          tokensPerSecond,
          ...timeToEnd({ step, totalSteps, msPerStep, elapsedMs: elapsed(), maxMinutes: t.maxMinutes }),
          learningRate,
          trainedTokens,
          elapsedMs: elapsed(),
        });
        if (stop) {
          stopReason = 'earlyStopping';
          break training;
        }
        if (
          t.checkpointEvery !== undefined &&
          step % t.checkpointEvery === 0 &&
          opts.onCheckpoint !== undefined
        ) {
          await opts.onCheckpoint(checkpoint());
          lastCheckpointStep = step;
        }
        // Lets timers, signals and I/O run between steps (progress bars, lock renewals).
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      epoch++;
      batchInEpoch = 0;
      epochSeed = planRng.seed();
      plan = planEpoch(partition, new Rng(epochSeed));
      if (lastEvalStep !== step && (await runEval())) {
        stopReason = 'earlyStopping';
        break;
      }
    }
    if (lastEvalStep !== step) await runEval();

    let final = latest;
    if (
      bestWeights !== undefined &&
      bestValLoss !== null &&
      latest !== undefined &&
      latest.loss > bestValLoss
    ) {
      model.setWeights(bestWeights);
      final = history.find((h) => h.loss === bestValLoss);
    }
    return {
      model,
      steps: step,
      epochs: epoch,
      stopReason,
      trainLoss: lastLoss,
      validation: final,
      tokensPerSecond: rate(recent),
      elapsedMs: elapsed(),
      trainedTokens,
      history,
    };
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    optimizer.dispose();
    if (carried !== undefined) disposeState(carried);
  }
}

/**
 * The ETA and share done of a run that ends at `totalSteps` or after `maxMinutes`, whichever
 * comes first: a run of many epochs cut short by its time budget must not promise days.
 */
export function timeToEnd(p: {
  step: number;
  totalSteps: number;
  msPerStep: number;
  elapsedMs: number;
  maxMinutes: number | undefined;
}): { eta: number; fraction: number } {
  const bySteps = {
    eta: (Math.max(0, p.totalSteps - p.step) * p.msPerStep) / 1000,
    fraction: p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0,
  };
  if (p.maxMinutes === undefined) return bySteps;
  const budgetMs = p.maxMinutes * 60_000;
  const byTime = {
    eta: Math.max(0, budgetMs - p.elapsedMs) / 1000,
    fraction: Math.min(1, p.elapsedMs / budgetMs),
  };
  return byTime.eta < bySteps.eta ? byTime : bySteps;
}

function rate(recent: { ms: number; tokens: number }[]): number {
  const ms = recent.reduce((a, r) => a + r.ms, 0);
  return ms > 0 ? (recent.reduce((a, r) => a + r.tokens, 0) * 1000) / ms : 0;
}

interface StepInput {
  x: Int32Array;
  y: Int32Array;
  steps: number;
  batch: number;
  state: LayerState[];
  rng: Rng;
  backwardScale: Float32Array | undefined;
  learningRate: number;
  clipNorm: number;
  clipValue: number | undefined;
}

/** One optimisation step; returns the loss, the gradient norm before clipping and the new state (owned by the caller). */
export async function trainStep(
  model: RnnLm,
  optimizer: ReturnType<typeof createOptimizer>,
  input: StepInput,
): Promise<{ loss: number; gradNorm: number; state: LayerState[] }> {
  const vars = model.trainableVariables();
  let state: LayerState[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const r = model.trainLoss(input);
    state = r.state;
    return r.loss;
  }, vars);
  const raw = vars.map((v) => grads[v.name] as tf.Tensor);
  const loss = (await value.data())[0] as number;
  const clipped = clipGradients(raw, input.clipNorm, input.clipValue);
  if (Number.isFinite(loss) && Number.isFinite(clipped.norm)) {
    optimizer.apply(vars, clipped.grads, input.learningRate);
    model.weightsChanged();
  }
  tf.dispose([value, ...raw, ...clipped.grads]);
  return { loss, gradNorm: clipped.norm, state };
}

function stateToArrays(state: LayerState[] | undefined): NamedArray[] {
  if (state === undefined) return [];
  return state.flatMap((s, l) => [
    { name: `carry/${l}/h`, shape: [...s.h.shape], data: s.h.dataSync() as Float32Array },
    ...(s.c === undefined
      ? []
      : [{ name: `carry/${l}/c`, shape: [...s.c.shape], data: s.c.dataSync() as Float32Array }]),
  ]);
}

function stateFromArrays(arrays: NamedArray[], config: ModelConfig): LayerState[] | undefined {
  const byName = new Map(arrays.map((a) => [a.name, a]));
  if (!byName.has('carry/0/h')) return undefined;
  return Array.from({ length: config.layers }, (_, l) => {
    const h = byName.get(`carry/${l}/h`);
    const c = byName.get(`carry/${l}/c`);
    if (h === undefined)
      throw new RnnlmError('RNNLM_CHECKPOINT_MISMATCH', `checkpoint lacks the state of layer ${l}`);
    return {
      h: tf.tensor2d(h.data, h.shape as [number, number]),
      c: c === undefined ? undefined : tf.tensor2d(c.data, c.shape as [number, number]),
    };
  });
}

function checkResumable(state: TrainerState, opts: TrainOptions): void {
  const mismatch = (what: string) =>
    new RnnlmError(
      'RNNLM_CHECKPOINT_MISMATCH',
      `cannot resume: the checkpoint was made with a different ${what}`,
    );
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
