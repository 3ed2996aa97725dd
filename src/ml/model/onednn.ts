import * as tf from '@tensorflow/tfjs';

import type { LayerDims, NativeKernels, PackedLayer } from '../native.js';
import { CELLS } from './cells/index.js';
import type { LayerParams } from './layer.js';
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

/**
 * Makes `data` the host copy of `t`'s current values: the host training step assigns weights
 * it computed in host memory, so reading them back out of the backend would be a wasted copy.
 */
export function adoptHost(t: tf.Tensor, data: Float32Array): void {
  hostCopies.set(t.dataId, data);
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

/**
 * The inverse of permuteBlocks, adding into `dst` (dst block order[j] += src block j), or
 * copying when `copy` (dst is zeros: a copy is a memcpy, an add a loop).
 */
function unpermuteBlocks(
  src: Float32Array,
  dst: Float32Array,
  rows: number,
  h: number,
  order: readonly number[],
  copy: boolean,
) {
  const g = order.length;
  for (let r = 0; r < rows; r++) {
    const base = r * g * h;
    for (let j = 0; j < g; j++) {
      const from = base + j * h;
      const to = base + (order[j] as number) * h;
      if (copy) dst.set(src.subarray(from, from + h), to);
      else for (let i = 0; i < h; i++) dst[to + i] = (dst[to + i] as number) + (src[from + i] as number);
    }
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
export function addFromOnednn(
  cell: CellType,
  d: OnednnWeights,
  into: HostLayer,
  input: number,
  hidden: number,
  copy = false,
): void {
  const { order } = CELLS[cell].onednn;
  const g = order.length;
  unpermuteBlocks(d.layer, into.kernel, input, hidden, order, copy);
  unpermuteBlocks(d.iter, into.recurrent, hidden, hidden, order, copy);
  unpermuteBlocks(d.bias.subarray(0, g * hidden), into.bias, 1, hidden, order, copy);
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
 * Copies of a layer's weights in other layouts, keyed by the host copy of its kernel: the
 * kernel, its recurrent matrix and biases change together (an optimizer step assigns them
 * all), and each assignment makes a new host copy, so an entry lives exactly as long as the
 * weights it maps.
 */
class LayerCache<T> {
  private readonly copies = new WeakMap<Float32Array, { of: HostLayer; value: T }>();

  get(w: HostLayer, make: () => T): T {
    const cached = this.copies.get(w.kernel);
    if (
      cached !== undefined &&
      cached.of.recurrent === w.recurrent &&
      cached.of.bias === w.bias &&
      cached.of.recurrentBias === w.recurrentBias
    ) {
      return cached.value;
    }
    const value = make();
    this.copies.set(w.kernel, { of: w, value });
    return value;
  }
}

const onednnCopies = new LayerCache<OnednnWeights>();
const packedCopies = new LayerCache<PackedLayer>();

export function onednnWeights(cell: CellType, w: HostLayer, input: number, hidden: number): OnednnWeights {
  return onednnCopies.get(w, () => toOnednn(cell, w, input, hidden));
}

/** A layer's weights packed for the inference pass ({@link infer}), once per weight version. */
export function packedWeights(
  k: NativeKernels,
  cell: CellType,
  w: HostLayer,
  input: number,
  hidden: number,
): PackedLayer {
  return packedCopies.get(w, () => {
    const o = toOnednn(cell, w, input, hidden);
    return k.rnnPack({ cell, input, hidden, weightsLayer: o.layer, weightsIter: o.iter, bias: o.bias });
  });
}

/** A forward pass's outputs: h_t of every step [T·B, H] and the final state. */
export interface LayerOutput {
  out: Float32Array;
  hLast: Float32Array;
  /** LSTM's final cell state (empty for the other cells). */
  cLast: Float32Array;
}

/**
 * One layer over a segment without a backward pass (scoring, evaluation and generation), on
 * the addon's hand-written inference pass (native/src/fwd.c says why not oneDNN's primitive).
 * In place: `h` and `c` (c read for LSTM only) hold the state before and after (the pass reads
 * them before it writes them), and `out` [T·B, H] gets h_t of every step, so a batch-1 token
 * allocates nothing here.
 */
export function infer(
  k: NativeKernels,
  cell: CellType,
  x: Float32Array,
  h: Float32Array,
  c: Float32Array,
  packed: PackedLayer,
  d: LayerDims,
  out: Float32Array,
): void {
  const cState = CELLS[cell].cellState ? c : EMPTY;
  // Spelt out: an object spread together from others took the addon twice as long to read
  // (5 us a call, against 0.4 us of work for a tiny layer; batch-1 generation makes two a token).
  k.rnnInfer({
    cell,
    steps: d.steps,
    batch: d.batch,
    input: d.input,
    hidden: d.hidden,
    packed,
    x,
    h0: h,
    c0: cState,
    out,
    hLast: h,
    cLast: cState,
  });
}
