import { errors } from '../../errors.js';
import type { ModelConfig } from '../config.js';
import { fillBatch, planEpoch, type Minibatch, type PartitionOptions } from '../data/partition.js';
import type { EvalResult } from '../eval/evaluate.js';
import type { LayerState } from '../model/layer.js';
import { disposeState, RnnLm } from '../model/lm.js';
import { Rng } from '../rng.js';
import { Cancellation } from './callbacks/cancellation.js';
import { CallbackList, type LoopControl, type Stop, type TrainingCallback } from './callbacks/callback.js';
import { EarlyStopping } from './callbacks/early-stopping.js';
import { Evaluation } from './callbacks/evaluation.js';
import { MaxSteps } from './callbacks/max-steps.js';
import { MaxTime } from './callbacks/max-time.js';
import { PlateauDecay } from './callbacks/plateau-decay.js';
import { checkResumable, LoopState } from './loop-state.js';
import { createOptimizer, type Optimizer } from './optimizers.js';
import { Throughput, timeToEnd } from './progress.js';
import { stateFromArrays, stateToArrays, trainStep } from './step.js';
import type { StopReason, TrainerCheckpoint, TrainOptions, TrainResult } from './types.js';

export type {
  EvalRecord,
  Progress,
  StepRecord,
  StopReason,
  TrainerCheckpoint,
  TrainerState,
  TrainOptions,
  TrainResult,
} from './types.js';

/**
 * A loss this far above a uniform guess (ln V nats) only comes from exploded weights: with
 * saturated units float32 can stay finite for a long time while the run is already lost.
 */
function divergenceLimit(vocabSize: number): number {
  return 10 * Math.log(vocabSize) + 10;
}

/**
 * The passes over the text a run may make: its `epochs` cap, else as many as its other limits
 * allow. A run that nothing else bounds (no step or time limit, no early stopping on a
 * validation text) makes one, so a library caller's bare config still ends.
 */
export function epochLimit(opts: Pick<TrainOptions, 'config' | 'validation'>): number {
  const t = opts.config.training;
  if (t.epochs !== undefined) return t.epochs;
  const bounded =
    t.maxSteps !== undefined ||
    t.maxMinutes !== undefined ||
    (t.earlyStoppingPatience !== undefined && opts.validation !== undefined);
  return bounded ? Infinity : 1;
}

/**
 * Truncated-BPTT training of an RnnLm. Deterministic for a given seed and backend: all
 * randomness (initialisation, epoch plans, dropout masks) comes from seeded generators whose
 * state goes into checkpoints, so a resumed run continues the same trajectory.
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const t = opts.config.training;
  const modelConfig: ModelConfig = { ...opts.config.model, vocabSize: opts.vocabSize };
  const resume = opts.resume;
  if (resume !== undefined) checkResumable(resume.state, opts);
  const seed = resume?.state.seed ?? t.seed ?? opts.defaultSeed ?? 0;
  const start = resume?.weights ?? opts.initialWeights;
  const model = start !== undefined ? RnnLm.fromWeights(modelConfig, start) : RnnLm.create(modelConfig, seed);
  const optimizer = createOptimizer(t.optimizer);
  let loop: TrainingLoop | undefined;
  try {
    loop = new TrainingLoop(opts, modelConfig, model, optimizer, seed);
    return await loop.run();
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    optimizer.dispose();
    loop?.dispose();
  }
}

/** One run: the steps themselves, with the policy (evaluation, decay, stopping) in callbacks. */
class TrainingLoop implements LoopControl {
  readonly state: LoopState;
  private readonly partition: PartitionOptions;
  private plan: Minibatch[];
  private readonly epochs: number;
  /** The step the run ends at by its step and epoch limits; Infinity when only time or validation ends it. */
  private readonly totalSteps: number;
  private readonly callbacks: CallbackList;
  private readonly throughput = new Throughput();
  /** The hidden state carried into the next minibatch. */
  private carried: LayerState[] | undefined;
  private buffers = { x: new Int32Array(0), y: new Int32Array(0) };

  constructor(
    private readonly opts: TrainOptions,
    private readonly modelConfig: ModelConfig,
    readonly model: RnnLm,
    private readonly optimizer: Optimizer,
    seed: number,
  ) {
    const t = opts.config.training;
    this.state = LoopState.restore(opts.resume, { seed, learningRate: t.learningRate });
    this.partition = {
      numTokens: opts.train.length,
      batchSize: t.batchSize,
      seqLength: t.seqLength,
      partition: t.partition,
      truncation: t.truncation,
    };
    this.plan = planEpoch(this.partition, new Rng(this.state.epochSeed));
    this.epochs = epochLimit(opts);
    this.totalSteps = Math.min(t.maxSteps ?? Infinity, this.epochs * this.plan.length);
    this.callbacks = new CallbackList(this.policy());
    // Last: dispose() frees these tensors, and a constructor that throws never gets there.
    if (opts.resume !== undefined) {
      optimizer.setState(opts.resume.optimizer.filter((a) => !a.name.startsWith('carry/')));
      this.carried = stateFromArrays(opts.resume.optimizer, modelConfig);
    }
  }

  /** The callbacks, in the order their reasons to stop win. */
  private policy(): TrainingCallback[] {
    const t = this.opts.config.training;
    const validation = this.opts.validation;
    return [
      new MaxSteps(this.totalSteps),
      ...(t.maxMinutes === undefined ? [] : [new MaxTime(t.maxMinutes)]),
      ...(this.opts.signal === undefined ? [] : [new Cancellation(this.opts.signal)]),
      ...(validation === undefined
        ? []
        : [
            new Evaluation(validation, t.evalEvery, { batchSize: t.evalBatchSize, seqLength: t.seqLength }),
            new PlateauDecay(t.lrPatience, t.lrDecay),
          ]),
      ...(t.earlyStoppingPatience === undefined ? [] : [new EarlyStopping(t.earlyStoppingPatience)]),
    ];
  }

  async run(): Promise<TrainResult> {
    const t = this.opts.config.training;
    const s = this.state;
    let stopReason: StopReason = 'epochs';
    training: while (s.epoch < this.epochs) {
      while (s.batchInEpoch < this.plan.length) {
        const before = await this.callbacks.stepBegin(this);
        if (before !== undefined) {
          stopReason = before;
          break training;
        }
        await this.step();
        const after = await this.callbacks.stepEnd(this);
        this.reportProgress();
        if (after !== undefined) {
          stopReason = after;
          break training;
        }
        if (t.checkpointEvery !== undefined && s.step % t.checkpointEvery === 0) await this.saveCheckpoint();
        // Lets timers, signals and I/O run between steps (progress bars, lock renewals).
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      s.nextEpoch();
      this.plan = planEpoch(this.partition, new Rng(s.epochSeed));
      const atEpochEnd = await this.callbacks.epochEnd(this);
      if (atEpochEnd !== undefined) {
        stopReason = atEpochEnd;
        break;
      }
    }
    await this.callbacks.trainEnd(this);
    return this.result(stopReason);
  }

  evaluated(result: EvalResult): Stop {
    const { record, improved } = this.state.recordEval(result, () => this.model.getWeights());
    this.opts.onEval?.(record);
    return this.callbacks.evalEnd(this, improved);
  }

  async saveCheckpoint(): Promise<void> {
    if (this.opts.onCheckpoint === undefined || this.state.lastCheckpointStep === this.state.step) return;
    await this.opts.onCheckpoint(this.checkpoint());
    this.state.lastCheckpointStep = this.state.step;
  }

  /** Frees the carried state; the model is the caller's. */
  dispose(): void {
    if (this.carried !== undefined) disposeState(this.carried);
  }

  /** Trains on the next minibatch of the plan. */
  private async step(): Promise<void> {
    const t = this.opts.config.training;
    const s = this.state;
    const mb = this.plan[s.batchInEpoch] as Minibatch;
    const size = mb.length * t.batchSize;
    if (this.buffers.x.length !== size) this.buffers = { x: new Int32Array(size), y: new Int32Array(size) };
    fillBatch(this.opts.train, mb, this.buffers.x, this.buffers.y);
    if (mb.resetState || this.carried === undefined) {
      if (this.carried !== undefined) disposeState(this.carried);
      this.carried = this.model.zeroState(t.batchSize);
    }
    const stepStart = performance.now();
    const { loss, gradNorm, state } = await trainStep(this.model, this.optimizer, {
      x: this.buffers.x,
      y: this.buffers.y,
      steps: mb.length,
      batch: t.batchSize,
      state: this.carried,
      rng: s.dropoutRng,
      backwardScale: mb.backwardScale,
      learningRate: s.learningRate * mb.lrScale,
      clipNorm: t.clipNorm,
      clipValue: t.clipValue,
    });
    disposeState(this.carried);
    this.carried = state;
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm) || loss > divergenceLimit(this.opts.vocabSize)) {
      throw errors.diverged({
        step: s.step + 1,
        loss,
        uniformLoss: Math.log(this.opts.vocabSize),
        gradNorm,
        learningRate: s.learningRate,
      });
    }
    s.stepDone(loss, size);
    this.throughput.add(performance.now() - stepStart, size);
    this.opts.onStep?.({
      step: s.step,
      loss,
      gradNorm,
      learningRate: s.learningRate * mb.lrScale,
      tokens: size,
    });
  }

  private reportProgress(): void {
    const s = this.state;
    const elapsedMs = s.elapsedMs();
    this.opts.onProgress?.({
      epoch: s.epoch,
      step: s.step,
      // 0: no step count ends the run (its time budget or early stopping will).
      totalSteps: Number.isFinite(this.totalSteps) ? this.totalSteps : 0,
      trainLoss: s.lastLoss,
      valLoss: s.latest?.loss,
      valPerplexity: s.latest?.perplexity,
      tokensPerSecond: this.throughput.tokensPerSecond(),
      ...timeToEnd({
        step: s.step,
        totalSteps: this.totalSteps,
        msPerStep: this.throughput.msPerStep(),
        elapsedMs,
        maxMinutes: this.opts.config.training.maxMinutes,
      }),
      learningRate: s.learningRate,
      trainedTokens: s.trainedTokens,
      elapsedMs,
    });
  }

  private checkpoint(): TrainerCheckpoint {
    const { config, tokenizer, backend, train, validation } = this.opts;
    return {
      weights: this.model.getWeights(),
      optimizer: [...this.optimizer.getState(), ...stateToArrays(this.carried)],
      bestWeights: this.state.bestWeights,
      state: {
        version: 1,
        config,
        modelConfig: this.modelConfig,
        tokenizer,
        backend: backend.name,
        ...this.state.save(),
        data: { trainTokens: train.length, validationTokens: validation?.tokens.length ?? 0 },
      },
    };
  }

  /** The run's result, with the best weights put back when the last evaluation was worse. */
  private result(stopReason: StopReason): TrainResult {
    const s = this.state;
    let final = s.latest;
    if (
      s.bestWeights !== undefined &&
      s.bestValLoss !== null &&
      s.latest !== undefined &&
      s.latest.loss > s.bestValLoss
    ) {
      this.model.setWeights(s.bestWeights);
      final = s.history.find((h) => h.loss === s.bestValLoss);
    }
    return {
      model: this.model,
      steps: s.step,
      epochs: s.epoch,
      stopReason,
      trainLoss: s.lastLoss,
      validation: final,
      tokensPerSecond: this.throughput.tokensPerSecond(),
      elapsedMs: s.elapsedMs(),
      trainedTokens: s.trainedTokens,
      history: s.history,
    };
  }
}
