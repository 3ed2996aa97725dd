/**
 * A layer's training segment on oneDNN over host arrays: the training forward pass, keeping
 * its workspace, and the backward pass that reads it. The tfjs engine's custom gradient
 * (`onednnSegment`, for trainableLayer) and the host training step (src/ml/train/host-step.ts)
 * both run it.
 */
import * as tf from '@tensorflow/tfjs';

import type { LayerDims, NativeKernels } from '../native.js';
import { Scratch } from '../scratch.js';
import { CELLS } from './cells/index.js';
import type { LayerParams, LayerState } from './layer.js';
import type { CellType } from './layout.js';
import {
  addFromOnednn,
  EMPTY,
  hostLayer,
  onednnWeights,
  type HostLayer,
  type LayerOutput,
  type OnednnWeights,
} from './onednn.js';

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
 * The buffers of a layer's training segment, grow-only and kept per layer (keyed by its
 * recurrent weight variable) from step to step: the workspace (fresh, ~40 MB of first-touch
 * page faults a step at the bench's size), the outputs and dX (fresh, megabytes of garbage a
 * step). `busy` from the forward pass until its backward pass is done; a second forward pass
 * in between gets fresh ones.
 */
interface Held {
  scratch: Scratch;
  busy: boolean;
}
const held = new WeakMap<object, Held>();

function heldFor(owner: object): Held {
  let h = held.get(owner);
  if (h === undefined || h.busy) {
    const fresh: Held = { scratch: new Scratch(), busy: false };
    if (h === undefined) held.set(owner, fresh);
    h = fresh;
  }
  h.busy = true;
  return h;
}

/**
 * oneDNN's weight gradients of a layer, reused from step to step (the kernel zeroes them each
 * call): fresh ones were megabytes of garbage a step.
 */
const diffs = new WeakMap<object, OnednnWeights>();

function diffWeights(owner: object, w: OnednnWeights): OnednnWeights {
  let d = diffs.get(owner);
  if (
    d?.layer.length !== w.layer.length ||
    d.iter.length !== w.iter.length ||
    d.bias.length !== w.bias.length
  ) {
    d = {
      layer: new Float32Array(w.layer.length),
      iter: new Float32Array(w.iter.length),
      bias: new Float32Array(w.bias.length),
    };
    diffs.set(owner, d);
  }
  return d;
}

interface Piece {
  d: LayerDims;
  x: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  o: LayerOutput;
  workspace: Float32Array;
}

/** A segment's forward outputs and its backward pass (run at most once). */
export interface SegmentRun extends LayerOutput {
  /**
   * dX [T·B, I] and the weight gradients in rnnlm's layout from the gradients of the outputs
   * [T·B, H] and of the final state (`dCLast` empty but for LSTM); the weight gradients are
   * written into `into` when given (zeros), else into new arrays.
   */
  backward(
    dOut: Float32Array,
    dHLast: Float32Array,
    dCLast: Float32Array,
    into?: HostLayer,
  ): { dX: Float32Array; grads: HostLayer };
}

/**
 * One training forward pass per piece (one piece unless the gradient through the state is
 * scaled), and in `backward` one backward pass per piece from the last, each handing the
 * gradient of its initial state, scaled, to the piece before. `owner` keys the reused
 * workspace (one per layer).
 */
export function trainSegment(
  k: NativeKernels,
  cell: CellType,
  xs: Float32Array,
  h0: Float32Array,
  c0: Float32Array,
  hw: HostLayer,
  d: LayerDims,
  backwardScale: Float32Array | undefined,
  owner: object,
): SegmentRun {
  const { steps, batch, input, hidden } = d;
  const spec = CELLS[cell];
  const w: OnednnWeights = onednnWeights(cell, hw, input, hidden);
  const starts = pieceStarts(steps, backwardScale);
  const shapes = starts.map((s, i) => ({ ...d, steps: (starts[i + 1] ?? steps) - s }));
  const sizes = shapes.map((sd) => k.rnnWorkspaceSize({ cell, ...sd }));
  const buffers = heldFor(owner);
  const workspace = buffers.scratch.get(
    'workspace',
    sizes.reduce((a, b) => a + b, 0),
  );
  const out = buffers.scratch.get('out', steps * batch * hidden);
  const pieces: Piece[] = [];
  let offset = 0;
  let hIn = h0;
  let cIn = spec.cellState ? c0 : EMPTY;
  shapes.forEach((sd, i) => {
    const start = (starts[i] as number) * batch;
    const piece: Piece = {
      d: sd,
      x: xs.subarray(start * input, (start + sd.steps * batch) * input),
      h0: hIn,
      c0: cIn,
      o: {
        out: out.subarray(start * hidden, (start + sd.steps * batch) * hidden),
        hLast: new Float32Array(batch * hidden),
        cLast: spec.cellState ? new Float32Array(batch * hidden) : EMPTY,
      },
      workspace: workspace.subarray(offset, offset + (sizes[i] as number)),
    };
    offset += sizes[i] as number;
    k.rnnForward({
      cell,
      ...sd,
      x: piece.x,
      weightsLayer: w.layer,
      weightsIter: w.iter,
      bias: w.bias,
      h0: hIn,
      c0: cIn,
      ...piece.o,
      workspace: piece.workspace,
    });
    pieces.push(piece);
    hIn = piece.o.hLast;
    cIn = piece.o.cLast;
  });

  const backward = (dOut: Float32Array, dHLast: Float32Array, dCLast: Float32Array, into?: HostLayer) => {
    const g = spec.gates;
    const dX = buffers.scratch.get('dX', steps * batch * input);
    const grads: HostLayer = into ?? {
      kernel: new Float32Array(input * g * hidden),
      recurrent: new Float32Array(hidden * g * hidden),
      bias: new Float32Array(g * hidden),
      recurrentBias: cell === 'gru' ? new Float32Array(hidden) : EMPTY,
    };
    const dw = diffWeights(owner, w);
    let dH = dHLast;
    let dC = spec.cellState ? dCLast : EMPTY;
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
          dOut: dOut.subarray(start * hidden, (start + piece.d.steps * batch) * hidden),
          dHLast: dH,
          dCLast: dC,
          dX: dX.subarray(start * input, (start + piece.d.steps * batch) * input),
          dH0,
          dC0,
          dWeightsLayer: dw.layer,
          dWeightsIter: dw.iter,
          dBias: dw.bias,
        });
        // The first piece's gradients land in zeros: copied, not added.
        addFromOnednn(cell, dw, grads, input, hidden, i === pieces.length - 1);
        const scale = backwardScale?.[starts[i] as number] ?? 1;
        if (scale !== 1) {
          for (let j = 0; j < dH0.length; j++) dH0[j] = (dH0[j] as number) * scale;
          for (let j = 0; j < dC0.length; j++) dC0[j] = (dC0[j] as number) * scale;
        }
        dH = dH0;
        dC = dC0;
      }
    } finally {
      buffers.busy = false;
    }
    return { dX, grads };
  };
  return { out, hLast: hIn, cLast: cIn, backward };
}

/**
 * The trainable layer's segment on oneDNN as a tfjs custom gradient (`trainableLayer` wraps
 * it): returns the outputs [T·B, H] with, for LSTM, the final cell state appended as B more rows.
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
  const batch = x.shape[0] / steps;
  const d: LayerDims = { steps, batch, input: x.shape[1], hidden: p.recurrent.shape[0] };
  const spec = CELLS[cell];
  const run = trainSegment(
    k,
    cell,
    x.dataSync() as Float32Array,
    state.h.dataSync() as Float32Array,
    state.c === undefined ? EMPTY : (state.c.dataSync() as Float32Array),
    hostLayer(p),
    d,
    backwardScale,
    p.recurrent,
  );
  const rows = steps * batch * d.hidden;
  const value = new Float32Array(spec.cellState ? rows + batch * d.hidden : rows);
  value.set(run.out);
  if (spec.cellState) value.set(run.cLast, rows);

  const gradFunc = (dy: tf.Tensor): tf.Tensor[] => {
    const dys = dy.dataSync() as Float32Array;
    const { dX, grads } = run.backward(
      dys.subarray(0, rows),
      new Float32Array(batch * d.hidden),
      spec.cellState ? dys.slice(rows) : EMPTY,
    );
    const g = spec.gates;
    const out: tf.Tensor[] = [
      // A copy: dX is the layer's buffer, which its next step overwrites (a backend may keep the array).
      tf.tensor2d(dX.slice(), [steps * batch, d.input]),
      tf.tensor2d(grads.kernel, [d.input, g * d.hidden]),
      tf.tensor2d(grads.recurrent, [d.hidden, g * d.hidden]),
      tf.tensor1d(grads.bias),
    ];
    if (cell === 'gru') out.push(tf.tensor1d(grads.recurrentBias));
    return out;
  };
  return { value: tf.tensor2d(value, [value.length / d.hidden, d.hidden]), gradFunc };
}
