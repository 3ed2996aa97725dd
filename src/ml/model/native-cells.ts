import * as tf from '@tensorflow/tfjs';

import type { NativeKernels } from '../native.js';
import type { LayerParams, LayerRun, LayerState } from './layer.js';
import { GATES, type CellType } from './layout.js';

/**
 * Host copies of weights, keyed by their tfjs data id: a variable gets a new data id when it
 * is assigned, so an entry is valid for exactly as long as the weights it copied. Without it,
 * generation would copy every recurrent matrix out of the backend once per token.
 */
const hostCopies = new WeakMap<object, Float32Array>();

export function host(t: tf.Tensor): Float32Array {
  const id = t.dataId;
  let data = hostCopies.get(id);
  if (data === undefined) {
    data = t.dataSync() as Float32Array;
    hostCopies.set(id, data);
  }
  return data;
}

export const EMPTY = new Float32Array(0);

/** A layer's weights in host memory (`recurrentBias` empty but for GRU). */
export interface HostLayer {
  kernel: Float32Array;
  recurrent: Float32Array;
  bias: Float32Array;
  recurrentBias: Float32Array;
}

function hostLayer(p: LayerParams): HostLayer {
  return {
    kernel: host(p.kernel),
    recurrent: host(p.recurrent),
    bias: host(p.bias),
    recurrentBias: p.recurrentBias === undefined ? EMPTY : host(p.recurrentBias),
  };
}

interface Dims {
  steps: number;
  batch: number;
  input: number;
  hidden: number;
}

/** What a forward pass computed, in host memory: the outputs, and what its backward pass reads. */
interface Forward {
  /** h_t of every step [T*B, H], then for LSTM the final cell state [B, H] (the trainable layer's value). */
  value: Float32Array;
  /** h_t of every step [T*B, H] (a view of `value`). */
  out: Float32Array;
  /** LSTM: c_t of every step; GRU: the recurrent part of the candidate; RNN: unused. */
  aux: Float32Array;
  /** The activated gates of every step (LSTM, GRU). */
  gates: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  /** The training buffers `aux` and `gates` live in, handed back after the backward pass. */
  held?: TrainingBuffers | undefined;
}

/**
 * Grow-only scratch for what an inference pass computes but never reads back (the gates and
 * the per-step cell states, 5 floats of every 6 a layer writes). A fresh typed array of that
 * size is memory the kernel touches for the first time: measured on the bench's scoring chunk
 * (2 layers, H256, B32, T64, 10 MB a layer) the page faults and zero-filling cost more than
 * the gate math. Training keeps fresh arrays, since its backward pass reads them later.
 */
const scratch = { aux: EMPTY, gates: EMPTY };

function scratchArray(name: 'aux' | 'gates', length: number): Float32Array {
  if (scratch[name].length < length) scratch[name] = new Float32Array(length);
  return scratch[name].subarray(0, length);
}

/**
 * What a training forward pass keeps for its backward pass, one set per layer (keyed by the
 * layer's recurrent weight variable), reused from step to step while the model lives: fresh
 * arrays meant ~20 MB of first-touch page faults a step at the bench's size. They only grow,
 * so segments of varying length (variable truncation) reuse them too. `busy` from the forward
 * pass until its backward pass hands them back; a second forward pass in between (nothing does
 * that today) gets fresh arrays instead of overwriting the first's.
 */
interface TrainingBuffers {
  aux: Float32Array;
  gates: Float32Array;
  busy: boolean;
}
const trainingBuffers = new WeakMap<object, TrainingBuffers>();

function trainingBuffersFor(owner: object, auxLength: number, gatesLength: number): TrainingBuffers {
  let held = trainingBuffers.get(owner);
  if (held === undefined || held.busy) {
    const fresh = { aux: new Float32Array(auxLength), gates: new Float32Array(gatesLength), busy: false };
    if (held === undefined) trainingBuffers.set(owner, fresh);
    held = fresh;
  }
  if (held.aux.length < auxLength) held.aux = new Float32Array(auxLength);
  if (held.gates.length < gatesLength) held.gates = new Float32Array(gatesLength);
  held.busy = true;
  return held;
}

/** Where a forward pass writes what it computes besides its outputs. */
type Buffers = { kind: 'scratch' } | { kind: 'training'; owner: object };

/**
 * One layer over a segment; `c0` is read by LSTM only. The gates and the auxiliary states go
 * to the shared scratch (valid until the next call that uses it) for passes without a backward
 * pass, and to the layer's training buffers for those with one.
 */
export function forward(
  k: NativeKernels,
  cell: CellType,
  x: Float32Array,
  h0: Float32Array,
  c0: Float32Array,
  w: HostLayer,
  d: Dims,
  buffers: Buffers,
): Forward {
  const rows = d.steps * d.batch * d.hidden;
  const value = new Float32Array(cell === 'lstm' ? rows + d.batch * d.hidden : rows);
  const out = value.subarray(0, rows);
  const gatesLength = cell === 'rnn' ? 0 : GATES[cell] * rows;
  const auxLength = cell === 'rnn' ? 0 : rows;
  let aux: Float32Array, gates: Float32Array, held: TrainingBuffers | undefined;
  if (buffers.kind === 'scratch') {
    aux = scratchArray('aux', auxLength);
    gates = scratchArray('gates', gatesLength);
  } else {
    held = trainingBuffersFor(buffers.owner, auxLength, gatesLength);
    aux = held.aux.subarray(0, auxLength);
    gates = held.gates.subarray(0, gatesLength);
  }
  const common = { ...d, x, kernel: w.kernel, recurrent: w.recurrent, bias: w.bias, h0, out };
  switch (cell) {
    case 'lstm':
      k.lstmForward({ ...common, c0, cells: aux, gates });
      value.set(aux.subarray(rows - d.batch * d.hidden), rows);
      break;
    case 'gru':
      k.gruForward({ ...common, recurrentBias: w.recurrentBias, hn: aux, gates });
      break;
    case 'rnn':
      k.rnnForward(common);
      break;
  }
  return { value, out, aux, gates, h0, c0, held };
}

function dims(x: tf.Tensor2D, p: LayerParams, steps: number): Dims {
  return { steps, batch: x.shape[0] / steps, input: x.shape[1], hidden: p.recurrent.shape[0] };
}

/** `forward` from a layer's input (in host memory), state and weights as tfjs sees them. */
function forwardFrom(
  k: NativeKernels,
  cell: CellType,
  x: Float32Array,
  state: LayerState,
  w: HostLayer,
  d: Dims,
  buffers: Buffers,
): Forward {
  const c0 = state.c === undefined ? EMPTY : (state.c.dataSync() as Float32Array);
  return forward(k, cell, x, state.h.dataSync() as Float32Array, c0, w, d, buffers);
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
  const f = forwardFrom(k, cell, x.dataSync() as Float32Array, state, hostLayer(p), d, { kind: 'scratch' });
  const rows = steps * d.batch * d.hidden;
  return {
    outputs: tf.tensor2d(f.out, [steps * d.batch, d.hidden]),
    final: {
      h: tf.tensor2d(f.out.subarray(rows - d.batch * d.hidden), [d.batch, d.hidden]),
      c: cell === 'lstm' ? tf.tensor2d(f.value.subarray(rows), [d.batch, d.hidden]) : undefined,
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
  w: HostLayer,
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
  const common = {
    ...d,
    x,
    kernel: w.kernel,
    recurrent: w.recurrent,
    h0: f.h0,
    out: f.out,
    dOut,
    scale,
    dX,
    dKernel,
    dRecurrent,
    dBias,
  };
  const grads: tf.Tensor[] = [];
  switch (cell) {
    case 'lstm':
      k.lstmBackward({
        ...common,
        c0: f.c0,
        cells: f.aux,
        gates: f.gates,
        dCellLast: dy.subarray(rows * hidden),
      });
      break;
    case 'gru': {
      const dRecurrentBias = new Float32Array(hidden);
      k.gruBackward({ ...common, hn: f.aux, gates: f.gates, dRecurrentBias });
      grads.push(tf.tensor1d(dRecurrentBias));
      break;
    }
    case 'rnn':
      k.rnnBackward(common);
      break;
  }
  if (f.held !== undefined) f.held.busy = false;
  return [
    tf.tensor2d(dX, [rows, input]),
    tf.tensor2d(dKernel, [input, g]),
    tf.tensor2d(dRecurrent, [hidden, g]),
    tf.tensor1d(dBias),
    ...grads,
  ];
}

/**
 * The trainable layer's segment on the native kernels (`trainableLayer` wraps it in its
 * custom gradient): the whole forward pass is one call, and so is the backward pass, which
 * reads what it needs from the forward pass's host arrays (they live as long as the gradient
 * function does).
 */
export function nativeSegment(
  k: NativeKernels,
  cell: CellType,
  x: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  steps: number,
  backwardScale: Float32Array | undefined,
): { value: tf.Tensor2D; gradFunc: (dy: tf.Tensor) => tf.Tensor[] } {
  const d = dims(x, p, steps);
  const xs = x.dataSync() as Float32Array;
  const w = hostLayer(p);
  const f = forwardFrom(k, cell, xs, state, w, d, { kind: 'training', owner: p.recurrent });
  return {
    value: tf.tensor2d(f.value, [f.value.length / d.hidden, d.hidden]),
    gradFunc: (dy) => backward(k, cell, xs, w, d, f, dy.dataSync() as Float32Array, backwardScale),
  };
}
