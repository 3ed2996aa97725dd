import * as tf from '@tensorflow/tfjs';

import type { LayerDims, NativeKernels } from '../native.js';
import { CELLS } from './cells/index.js';
import type { LayerParams, LayerState } from './layer.js';
import type { CellType } from './layout.js';

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

/** A layer's weights in rnnlm's layout, in host memory (`recurrentBias` empty but for GRU). */
export interface HostLayer {
  kernel: Float32Array;
  recurrent: Float32Array;
  bias: Float32Array;
  recurrentBias: Float32Array;
}

/** A layer's weights as oneDNN's primitives take them: plain ldigo/ldgo, gates in oneDNN's order. */
export interface OnednnWeights {
  layer: Float32Array;
  iter: Float32Array;
  bias: Float32Array;
}

/** Copies the gate blocks of `src` [rows, G·H] into `dst` in `order` (dst block j = src block order[j]). */
function permuteBlocks(
  src: Float32Array,
  dst: Float32Array,
  rows: number,
  h: number,
  order: readonly number[],
) {
  const g = order.length;
  for (let r = 0; r < rows; r++) {
    const base = r * g * h;
    order.forEach((k, j) => dst.set(src.subarray(base + k * h, base + (k + 1) * h), base + j * h));
  }
}

/** The inverse of permuteBlocks, adding into `dst`: dst block order[j] += src block j. */
function unpermuteBlocks(
  src: Float32Array,
  dst: Float32Array,
  rows: number,
  h: number,
  order: readonly number[],
) {
  const g = order.length;
  for (let r = 0; r < rows; r++) {
    const base = r * g * h;
    order.forEach((k, j) => {
      const from = base + j * h;
      const to = base + k * h;
      for (let i = 0; i < h; i++) dst[to + i] = (dst[to + i] as number) + (src[from + i] as number);
    });
  }
}

/**
 * rnnlm's layer weights in oneDNN's layouts. Only the gate order differs (rnnlm's kernels are
 * already [in, G, H], oneDNN's ldigo); lbr_gru's bias takes the recurrent bias of the
 * candidate as a fourth block.
 */
export function toOnednn(cell: CellType, w: HostLayer, input: number, hidden: number): OnednnWeights {
  const { order } = CELLS[cell].onednn;
  const g = order.length;
  const layer = new Float32Array(input * g * hidden);
  const iter = new Float32Array(hidden * g * hidden);
  const bias = new Float32Array((cell === 'gru' ? g + 1 : g) * hidden);
  permuteBlocks(w.kernel, layer, input, hidden, order);
  permuteBlocks(w.recurrent, iter, hidden, hidden, order);
  permuteBlocks(w.bias, bias.subarray(0, g * hidden), 1, hidden, order);
  if (cell === 'gru') bias.set(w.recurrentBias, g * hidden);
  return { layer, iter, bias };
}

/** The gradients of oneDNN's weights added into rnnlm's layout (the inverse map of {@link toOnednn}). */
function addFromOnednn(
  cell: CellType,
  d: OnednnWeights,
  into: HostLayer,
  input: number,
  hidden: number,
): void {
  const { order } = CELLS[cell].onednn;
  const g = order.length;
  unpermuteBlocks(d.layer, into.kernel, input, hidden, order);
  unpermuteBlocks(d.iter, into.recurrent, hidden, hidden, order);
  unpermuteBlocks(d.bias.subarray(0, g * hidden), into.bias, 1, hidden, order);
  if (cell === 'gru') {
    for (let i = 0; i < hidden; i++) {
      into.recurrentBias[i] = (into.recurrentBias[i] as number) + (d.bias[g * hidden + i] as number);
    }
  }
}

export function hostLayer(p: LayerParams): HostLayer {
  return {
    kernel: host(p.kernel),
    recurrent: host(p.recurrent),
    bias: host(p.bias),
    recurrentBias: p.recurrentBias === undefined ? EMPTY : host(p.recurrentBias),
  };
}

/**
 * oneDNN copies of a layer's weights, keyed by the host copy of its kernel: the kernel, its
 * recurrent matrix and biases change together (an optimizer step assigns them all), and each
 * assignment makes a new host copy, so an entry lives exactly as long as the weights it maps.
 */
const onednnCopies = new WeakMap<Float32Array, { of: HostLayer; weights: OnednnWeights }>();

export function onednnWeights(cell: CellType, w: HostLayer, input: number, hidden: number): OnednnWeights {
  const cached = onednnCopies.get(w.kernel);
  if (
    cached !== undefined &&
    cached.of.recurrent === w.recurrent &&
    cached.of.bias === w.bias &&
    cached.of.recurrentBias === w.recurrentBias
  ) {
    return cached.weights;
  }
  const weights = toOnednn(cell, w, input, hidden);
  onednnCopies.set(w.kernel, { of: w, weights });
  return weights;
}

/** A forward pass's outputs: h_t of every step [T·B, H] and the final state. */
export interface LayerOutput {
  out: Float32Array;
  hLast: Float32Array;
  /** LSTM's final cell state (empty for the other cells). */
  cLast: Float32Array;
}

function outputs(cell: CellType, d: LayerDims): LayerOutput {
  const state = d.batch * d.hidden;
  return {
    out: new Float32Array(d.steps * state),
    hLast: new Float32Array(state),
    cLast: CELLS[cell].cellState ? new Float32Array(state) : EMPTY,
  };
}

/** One layer over a segment without a backward pass: scoring, evaluation and generation. */
export function forward(
  k: NativeKernels,
  cell: CellType,
  x: Float32Array,
  h0: Float32Array,
  c0: Float32Array,
  w: OnednnWeights,
  d: LayerDims,
): LayerOutput {
  const o = outputs(cell, d);
  k.rnnForward({
    cell,
    ...d,
    x,
    weightsLayer: w.layer,
    weightsIter: w.iter,
    bias: w.bias,
    h0,
    c0: CELLS[cell].cellState ? c0 : EMPTY,
    ...o,
  });
  return o;
}

function dims(x: tf.Tensor2D, p: LayerParams, steps: number): LayerDims {
  return { steps, batch: x.shape[0] / steps, input: x.shape[1], hidden: p.recurrent.shape[0] };
}

function stateArrays(state: LayerState): { h0: Float32Array; c0: Float32Array } {
  return {
    h0: state.h.dataSync() as Float32Array,
    c0: state.c === undefined ? EMPTY : (state.c.dataSync() as Float32Array),
  };
}

/**
 * Where the gradient through the state is scaled (randomized truncation): the segment runs as
 * pieces that end there, since oneDNN's backward pass has no per-step factor. Returns the
 * pieces' first steps; a factor of 1 (or none) cuts nothing.
 */
function pieceStarts(steps: number, backwardScale: Float32Array | undefined): number[] {
  const starts = [0];
  if (backwardScale === undefined) return starts;
  for (let t = 1; t < steps; t++) if ((backwardScale[t] ?? 1) !== 1) starts.push(t);
  return starts;
}

/**
 * The workspaces of a layer's training forward passes, one grow-only buffer per layer (keyed
 * by its recurrent weight variable) reused from step to step: a fresh one would be ~40 MB of
 * first-touch page faults a step at the bench's size. `busy` from the forward pass until its
 * backward pass is done; a second forward pass in between gets a fresh buffer.
 */
interface Workspace {
  data: Float32Array;
  busy: boolean;
}
const workspaces = new WeakMap<object, Workspace>();

function workspaceFor(owner: object, length: number): Workspace {
  let held = workspaces.get(owner);
  if (held === undefined || held.busy) {
    const fresh = { data: new Float32Array(length), busy: false };
    if (held === undefined) workspaces.set(owner, fresh);
    held = fresh;
  }
  if (held.data.length < length) held.data = new Float32Array(length);
  held.busy = true;
  return held;
}

interface Piece {
  d: LayerDims;
  x: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  o: LayerOutput;
  workspace: Float32Array;
}

/**
 * The trainable layer's segment on oneDNN (`trainableLayer` wraps it in its custom gradient):
 * one training forward pass per piece (one piece unless the gradient through the state is
 * scaled), and one backward pass per piece from the last, each handing the gradient of its
 * initial state, scaled, to the piece before. Returns the outputs [T·B, H] with, for LSTM, the
 * final cell state appended as B more rows.
 */
export function onednnSegment(
  k: NativeKernels,
  cell: CellType,
  x: tf.Tensor2D,
  state: LayerState,
  p: LayerParams,
  steps: number,
  backwardScale: Float32Array | undefined,
): { value: tf.Tensor2D; gradFunc: (dy: tf.Tensor) => tf.Tensor[] } {
  const d = dims(x, p, steps);
  const { batch, input, hidden } = d;
  const spec = CELLS[cell];
  const xs = x.dataSync() as Float32Array;
  const hw = hostLayer(p);
  const w = toOnednn(cell, hw, input, hidden);
  const starts = pieceStarts(steps, backwardScale);
  const shapes = starts.map((s, i) => ({ ...d, steps: (starts[i + 1] ?? steps) - s }));
  const sizes = shapes.map((sd) => k.rnnWorkspaceSize({ cell, ...sd }));
  const held = workspaceFor(
    p.recurrent,
    sizes.reduce((a, b) => a + b, 0),
  );
  const pieces: Piece[] = [];
  let { h0, c0 } = stateArrays(state);
  let offset = 0;
  shapes.forEach((sd, i) => {
    const start = (starts[i] as number) * batch;
    const piece: Piece = {
      d: sd,
      x: xs.subarray(start * input, (start + sd.steps * batch) * input),
      h0,
      c0,
      o: outputs(cell, sd),
      workspace: held.data.subarray(offset, offset + (sizes[i] as number)),
    };
    offset += sizes[i] as number;
    k.rnnForward({
      cell,
      ...sd,
      x: piece.x,
      weightsLayer: w.layer,
      weightsIter: w.iter,
      bias: w.bias,
      h0,
      c0,
      ...piece.o,
      workspace: piece.workspace,
    });
    pieces.push(piece);
    h0 = piece.o.hLast;
    c0 = piece.o.cLast;
  });
  const rows = steps * batch * hidden;
  const value = new Float32Array(spec.cellState ? rows + batch * hidden : rows);
  pieces.forEach((piece, i) => value.set(piece.o.out, (starts[i] as number) * batch * hidden));
  if (spec.cellState) value.set(c0, rows);

  const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
    const dys = dy.dataSync() as Float32Array;
    const g = spec.gates;
    const dX = new Float32Array(steps * batch * input);
    const grads: HostLayer = {
      kernel: new Float32Array(input * g * hidden),
      recurrent: new Float32Array(hidden * g * hidden),
      bias: new Float32Array(g * hidden),
      recurrentBias: cell === 'gru' ? new Float32Array(hidden) : EMPTY,
    };
    const dw: OnednnWeights = {
      layer: new Float32Array(w.layer.length),
      iter: new Float32Array(w.iter.length),
      bias: new Float32Array(w.bias.length),
    };
    let dHLast = new Float32Array(batch * hidden);
    let dCLast = spec.cellState ? dys.slice(rows) : EMPTY;
    try {
      for (let i = pieces.length - 1; i >= 0; i--) {
        const piece = pieces[i] as Piece;
        const start = (starts[i] as number) * batch;
        const dH0 = new Float32Array(batch * hidden);
        const dC0 = spec.cellState ? new Float32Array(batch * hidden) : EMPTY;
        k.rnnBackward({
          cell,
          ...piece.d,
          x: piece.x,
          weightsLayer: w.layer,
          weightsIter: w.iter,
          bias: w.bias,
          h0: piece.h0,
          c0: piece.c0,
          ...piece.o,
          workspace: piece.workspace,
          dOut: dys.subarray(start * hidden, (start + piece.d.steps * batch) * hidden),
          dHLast,
          dCLast,
          dX: dX.subarray(start * input, (start + piece.d.steps * batch) * input),
          dH0,
          dC0,
          dWeightsLayer: dw.layer,
          dWeightsIter: dw.iter,
          dBias: dw.bias,
        });
        addFromOnednn(cell, dw, grads, input, hidden);
        const scale = backwardScale?.[starts[i] as number] ?? 1;
        if (scale !== 1) {
          for (let j = 0; j < dH0.length; j++) dH0[j] = (dH0[j] as number) * scale;
          for (let j = 0; j < dC0.length; j++) dC0[j] = (dC0[j] as number) * scale;
        }
        dHLast = dH0;
        dCLast = dC0;
      }
    } finally {
      held.busy = false;
    }
    const out: tf.Tensor[] = [
      tf.tensor2d(dX, [steps * batch, input]),
      tf.tensor2d(grads.kernel, [input, g * hidden]),
      tf.tensor2d(grads.recurrent, [hidden, g * hidden]),
      tf.tensor1d(grads.bias),
    ];
    if (cell === 'gru') out.push(tf.tensor1d(grads.recurrentBias));
    return out;
  };
  return { value: tf.tensor2d(value, [value.length / hidden, hidden]), gradFunc };
}
