import * as tf from '@tensorflow/tfjs';

import type { ModelConfig } from '../config.js';
import type { NativeKernels } from '../native.js';
import { GATES, type CellType, type LayerParams, type LayerRun, type LayerState } from './cells.js';

/**
 * Host copies of weights, keyed by their tfjs data id: a variable gets a new data id when it
 * is assigned, so an entry is valid for exactly as long as the weights it copied. Without it,
 * generation would copy every recurrent matrix out of the backend once per token.
 */
const hostCopies = new WeakMap<object, Float32Array>();

function host(t: tf.Tensor): Float32Array {
  const id = t.dataId;
  let data = hostCopies.get(id);
  if (data === undefined) {
    data = t.dataSync() as Float32Array;
    hostCopies.set(id, data);
  }
  return data;
}

interface Dims {
  steps: number;
  batch: number;
  input: number;
  hidden: number;
}

/** What a forward pass computed, in host memory: the outputs, and what its backward pass reads. */
interface Forward {
  /** h_t of every step [T*B, H]. */
  out: Float32Array;
  /** LSTM: c_t of every step; GRU: the recurrent part of the candidate; RNN: unused. */
  aux: Float32Array;
  /** The activated gates of every step (LSTM, GRU). */
  gates: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
}

const EMPTY = new Float32Array(0);

function forward(
  k: NativeKernels,
  cell: CellType,
  x: Float32Array,
  state: LayerState,
  p: LayerParams,
  d: Dims,
): Forward {
  const rows = d.steps * d.batch * d.hidden;
  const out = new Float32Array(rows);
  const h0 = state.h.dataSync() as Float32Array;
  const args = [
    d.steps,
    d.batch,
    d.input,
    d.hidden,
    x,
    host(p.kernel),
    host(p.recurrent),
    host(p.bias),
  ] as const;
  switch (cell) {
    case 'lstm': {
      const c0 = (state.c as tf.Tensor2D).dataSync() as Float32Array;
      const aux = new Float32Array(rows);
      const gates = new Float32Array(GATES.lstm * rows);
      k.lstmForward(...args, h0, c0, out, aux, gates);
      return { out, aux, gates, h0, c0 };
    }
    case 'gru': {
      const aux = new Float32Array(rows);
      const gates = new Float32Array(GATES.gru * rows);
      k.gruForward(...args, host(p.recurrentBias as tf.Tensor1D), h0, out, aux, gates);
      return { out, aux, gates, h0, c0: EMPTY };
    }
    case 'rnn':
      k.rnnForward(...args, h0, out);
      return { out, aux: EMPTY, gates: EMPTY, h0, c0: EMPTY };
  }
}

function dims(x: tf.Tensor2D, p: LayerParams, steps: number): Dims {
  return { steps, batch: x.shape[0] / steps, input: x.shape[1], hidden: p.recurrent.shape[0] };
}

/** The final cell state of an LSTM forward pass [B, H]. */
function lastCell(f: Forward, d: Dims): Float32Array {
  return f.aux.subarray((d.steps - 1) * d.batch * d.hidden);
}

/** `runLayer` on the native kernels: same contract, same numbers to float rounding. */
export function runNativeLayer(
  k: NativeKernels,
  cell: CellType,
  x: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  steps: number,
): LayerRun {
  const d = dims(x, p, steps);
  const f = forward(k, cell, x.dataSync() as Float32Array, state, p, d);
  const state_ = d.batch * d.hidden;
  return {
    outputs: tf.tensor2d(f.out, [steps * d.batch, d.hidden]),
    final: {
      h: tf.tensor2d(f.out.subarray(f.out.length - state_), [d.batch, d.hidden]),
      c: cell === 'lstm' ? tf.tensor2d(lastCell(f, d), [d.batch, d.hidden]) : undefined,
    },
  };
}

/** Randomized truncation's per-step factors as the kernels take them: exactly one per step. */
function scaleFor(steps: number, backwardScale: Float32Array | undefined): Float32Array | null {
  if (backwardScale === undefined) return null;
  if (backwardScale.length === steps) return backwardScale;
  const scale = new Float32Array(steps).fill(1);
  scale.set(backwardScale.subarray(0, steps));
  return scale;
}

function backward(
  k: NativeKernels,
  cell: CellType,
  x: Float32Array,
  p: LayerParams,
  d: Dims,
  f: Forward,
  dy: Float32Array,
  backwardScale: Float32Array | undefined,
): tf.Tensor[] {
  const { steps, batch, input, hidden } = d;
  const g = GATES[cell] * hidden;
  const rows = steps * batch;
  const dX = new Float32Array(rows * input);
  const dKernel = new Float32Array(input * g);
  const dRecurrent = new Float32Array(hidden * g);
  const dBias = new Float32Array(g);
  const scale = scaleFor(steps, backwardScale);
  const dOut = dy.subarray(0, rows * hidden);
  const args = [steps, batch, input, hidden, x, host(p.kernel), host(p.recurrent), f.h0] as const;
  const grads: tf.Tensor[] = [];
  switch (cell) {
    case 'lstm':
      k.lstmBackward(
        ...args,
        f.c0,
        f.out,
        f.aux,
        f.gates,
        dOut,
        dy.subarray(rows * hidden),
        scale,
        dX,
        dKernel,
        dRecurrent,
        dBias,
      );
      break;
    case 'gru': {
      const dRecurrentBias = new Float32Array(hidden);
      k.gruBackward(
        ...args,
        f.out,
        f.aux,
        f.gates,
        dOut,
        scale,
        dX,
        dKernel,
        dRecurrent,
        dBias,
        dRecurrentBias,
      );
      grads.push(tf.tensor1d(dRecurrentBias));
      break;
    }
    case 'rnn':
      k.rnnBackward(...args, f.out, dOut, scale, dX, dKernel, dRecurrent, dBias);
      break;
  }
  return [
    tf.tensor2d(dX, [rows, input]),
    tf.tensor2d(dKernel, [input, g]),
    tf.tensor2d(dRecurrent, [hidden, g]),
    tf.tensor1d(dBias),
    ...grads,
  ];
}

/**
 * `trainableLayer` on the native kernels: the whole segment's forward pass is one call, and so
 * is its backward pass, which reads what it needs from the forward pass's host arrays (they
 * live as long as the gradient function does).
 */
export function trainableNativeLayer(
  k: NativeKernels,
  cell: CellType,
  x: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  steps: number,
  backwardScale?: Float32Array,
): tf.Tensor2D {
  const d = dims(x, p, steps);
  const inputs: tf.Tensor[] = [x, p.kernel, p.recurrent, p.bias];
  if (cell === 'gru') inputs.push(p.recurrentBias as tf.Tensor1D);
  const op = tf.customGrad((...args) => {
    const [xi, kernel, recurrent, bias, recurrentBias] = args as [
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor2D,
      tf.Tensor1D,
      tf.Tensor1D?,
    ];
    const params: LayerParams = { kernel, recurrent, bias, recurrentBias };
    const xs = xi.dataSync() as Float32Array;
    const f = forward(k, cell, xs, state, params, d);
    // LSTM appends its final cell state, as the tfjs path does.
    const value =
      cell === 'lstm'
        ? tf.tensor2d(concat(f.out, lastCell(f, d)), [(steps + 1) * d.batch, d.hidden])
        : tf.tensor2d(f.out, [steps * d.batch, d.hidden]);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[]) =>
        backward(k, cell, xs, params, d, f, (dy as tf.Tensor).dataSync() as Float32Array, backwardScale),
    };
  });
  return op(...inputs) as tf.Tensor2D;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** What {@link HostStepper} needs of a model: its config and its weights by name. */
export interface SteppableModel {
  readonly config: ModelConfig;
  variableNames(): string[];
  trainableVariables(): tf.Variable[];
}

/**
 * Generation's batch-1 loop without tfjs: the state lives in host arrays, and each call runs
 * the embedding lookup, the layers (the native kernels) and the output projection (sgemm) of
 * the tokens it is given, returning the logits after the last one. It computes what
 * `RnnLm.logits` does; a tfjs op per step would cost more than the step's arithmetic.
 */
export class HostStepper {
  private readonly weights = new Map<string, Float32Array>();
  private readonly h: Float32Array[];
  private readonly c: Float32Array[];

  constructor(
    private readonly k: NativeKernels,
    private readonly model: SteppableModel,
  ) {
    const vars = model.trainableVariables();
    model.variableNames().forEach((name, i) => this.weights.set(name, host(vars[i] as tf.Variable)));
    const { layers, hiddenSize } = model.config;
    this.h = Array.from({ length: layers }, () => new Float32Array(hiddenSize));
    this.c = Array.from({ length: layers }, () => new Float32Array(hiddenSize));
  }

  private w(name: string): Float32Array {
    const data = this.weights.get(name);
    if (data === undefined) throw new Error(`no weight ${name}`);
    return data;
  }

  /** Feeds `ids` (at least one) and returns the logits [vocabSize] after the last. */
  advance(ids: Int32Array): Float32Array {
    const { cell, layers, hiddenSize: H, embeddingSize: E, vocabSize: V, tieWeights } = this.model.config;
    const steps = ids.length;
    const embedding = this.w('embedding');
    let x = new Float32Array(steps * E);
    ids.forEach((id, t) => x.set(embedding.subarray(id * E, (id + 1) * E), t * E));
    for (let l = 0; l < layers; l++) {
      const input = l === 0 ? E : H;
      const args = [
        steps,
        1,
        input,
        H,
        x,
        this.w(`layers.${l}.kernel`),
        this.w(`layers.${l}.recurrent`),
        this.w(`layers.${l}.bias`),
      ] as const;
      const out = new Float32Array(steps * H);
      const h = this.h[l] as Float32Array;
      switch (cell) {
        case 'lstm': {
          const cells = new Float32Array(steps * H);
          this.k.lstmForward(
            ...args,
            h,
            this.c[l] as Float32Array,
            out,
            cells,
            new Float32Array(4 * steps * H),
          );
          (this.c[l] as Float32Array).set(cells.subarray((steps - 1) * H));
          break;
        }
        case 'gru':
          this.k.gruForward(
            ...args,
            this.w(`layers.${l}.recurrentBias`),
            h,
            out,
            new Float32Array(steps * H),
            new Float32Array(3 * steps * H),
          );
          break;
        case 'rnn':
          this.k.rnnForward(...args, h, out);
          break;
      }
      h.set(out.subarray((steps - 1) * H));
      x = out;
    }
    const last = this.h[layers - 1] as Float32Array;
    const logits = new Float32Array(V);
    if (tieWeights) this.k.sgemm(false, true, 1, V, H, last, embedding, logits);
    else this.k.sgemm(false, false, 1, V, H, last, this.w('output.kernel'), logits);
    const bias = this.w('output.bias');
    for (let v = 0; v < V; v++) logits[v] = (logits[v] as number) + (bias[v] as number);
    return logits;
  }
}
