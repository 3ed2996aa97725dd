/**
 * rnnlm's side of the bench: the same sequential batches torch_ref.py cuts, a training session
 * that lives across interleaved rounds, and validation over the same streams torch scores.
 */
import type { ModelConfig } from '../src/ml/config.js';
import { chunkNll } from '../src/ml/eval/evaluate.js';
import type { LayerState } from '../src/ml/model/layer.js';
import { disposeState, RnnLm } from '../src/ml/model/lm.js';
import { Rng } from '../src/ml/rng.js';
import { createOptimizer } from '../src/ml/train/optimizers.js';
import { trainStep } from '../src/ml/train/step.js';

export const LR = 0.002;
export const CLIP = 5;

export interface TrainConfig {
  name: string;
  hidden: number;
  embedding: number;
  batch: number;
  steps: number;
  layers: number;
  /** Dropout between layers (0 when absent). */
  dropout?: number;
}

/** The bench's training shapes; the first is also the model every inference measure runs. */
export const BENCH_CONFIGS: readonly [TrainConfig, TrainConfig] = [
  { name: 'H256 E64 B32 T64', hidden: 256, embedding: 64, batch: 32, steps: 64, layers: 2 },
  { name: 'H512 E64 B64 T64', hidden: 512, embedding: 64, batch: 64, steps: 64, layers: 2 },
];

export function modelConfig(c: TrainConfig, vocabSize: number): ModelConfig {
  return {
    cell: 'lstm',
    layers: c.layers,
    hiddenSize: c.hidden,
    embeddingSize: c.embedding,
    dropout: c.dropout ?? 0,
    tieWeights: false,
    vocabSize,
  };
}

/** matMul FLOPs per token of one forward pass (2 per multiply-add). */
export function forwardFlopsPerToken(c: TrainConfig, vocab: number): number {
  let macs = 0;
  for (let l = 0; l < c.layers; l++) macs += (l === 0 ? c.embedding : c.hidden) * 4 * c.hidden;
  macs += c.layers * c.hidden * 4 * c.hidden + c.hidden * vocab;
  return 2 * macs;
}

export function modelArgs(c: TrainConfig, vocab: number): string[] {
  return [
    '--vocab',
    `${vocab}`,
    '--emb',
    `${c.embedding}`,
    '--hidden',
    `${c.hidden}`,
    '--layers',
    `${c.layers}`,
  ];
}

/** The arguments of a torch_ref.py command that times `measure` minibatches of `c` after `warmup`. */
export function stepArgs(
  command: 'train' | 'score',
  c: TrainConfig,
  vocab: number,
  tokensFile: string,
  warmup: number,
  measure: number,
  maxSeconds: number,
): string[] {
  return [
    command,
    ...modelArgs(c, vocab),
    '--tokens',
    tokensFile,
    '--batch',
    `${c.batch}`,
    '--steps',
    `${c.steps}`,
    '--warmup',
    `${warmup}`,
    '--measure',
    `${measure}`,
    '--max-seconds',
    `${maxSeconds}`,
  ];
}

/** Sequential partition, identical to torch_ref.py's Batches: B contiguous streams, T steps a batch. */
export class Batches {
  private readonly stream: number;
  private offset = 0;
  readonly x: Int32Array;
  readonly y: Int32Array;

  constructor(
    private readonly tokens: Int32Array,
    private readonly batch: number,
    private readonly steps: number,
  ) {
    this.stream = Math.floor((tokens.length - 1) / batch);
    this.x = new Int32Array(batch * steps);
    this.y = new Int32Array(batch * steps);
  }

  get chunks(): number {
    return Math.floor(this.stream / this.steps);
  }

  /** Fills x/y (time-major) with the next minibatch; true when the streams restarted. */
  next(): boolean {
    if (this.offset + this.steps > this.stream) this.offset = 0;
    for (let t = 0; t < this.steps; t++) {
      for (let b = 0; b < this.batch; b++) {
        const i = b * this.stream + this.offset + t;
        this.x[t * this.batch + b] = this.tokens[i] as number;
        this.y[t * this.batch + b] = this.tokens[i + 1] as number;
      }
    }
    this.offset += this.steps;
    return this.offset === this.steps;
  }
}

/** A training session of rnnlm that lives across rounds (warmed up once). */
export class RnnlmTrainer {
  readonly model: RnnLm;
  private readonly optimizer = createOptimizer('adam');
  private readonly data: Batches;
  private state: LayerState[];
  private readonly rng = new Rng(7);

  constructor(
    private readonly c: TrainConfig,
    tokens: Int32Array,
    vocab: number,
    seed = 1,
  ) {
    this.model = RnnLm.create(modelConfig(c, vocab), seed);
    this.data = new Batches(tokens, c.batch, c.steps);
    this.state = this.model.zeroState(c.batch);
  }

  /** Runs n steps; returns the wall time of each in ms and every loss. */
  async run(n: number): Promise<{ stepMs: number[]; losses: number[]; loss: number }> {
    const stepMs: number[] = [];
    const losses: number[] = [];
    for (let i = 0; i < n; i++) {
      if (this.data.next()) {
        disposeState(this.state);
        this.state = this.model.zeroState(this.c.batch);
      }
      const t0 = performance.now();
      const r = await trainStep(this.model, this.optimizer, {
        x: this.data.x,
        y: this.data.y,
        steps: this.c.steps,
        batch: this.c.batch,
        state: this.state,
        rng: this.rng,
        backwardScale: undefined,
        learningRate: LR,
        clipNorm: CLIP,
        clipValue: undefined,
      });
      stepMs.push(performance.now() - t0);
      disposeState(this.state);
      this.state = r.state;
      losses.push(r.loss);
    }
    return { stepMs, losses, loss: losses.at(-1) ?? Number.NaN };
  }

  dispose(): void {
    disposeState(this.state);
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/** Mean NLL per token over the same streams torch_ref.py's evaluate() reads. */
export async function rnnlmValNats(
  model: RnnLm,
  val: Int32Array,
  batch: number,
  steps: number,
): Promise<number> {
  const data = new Batches(val, batch, steps);
  let state = model.zeroState(batch);
  let total = 0;
  let count = 0;
  for (let k = 0; k < data.chunks; k++) {
    data.next();
    const out = chunkNll(model, data.x, data.y, steps, state);
    disposeState(state);
    state = out.state;
    const nll = await out.nll.data();
    out.nll.dispose();
    for (const v of nll) total += v;
    count += nll.length;
  }
  disposeState(state);
  return total / count;
}
