/**
 * Which engine runs a model, decided once: when the model is built (RnnLm captures the native
 * engine then, and trains on it), and here for its forward pass over host arrays.
 */
import { zeroHostState, type Forward } from './forward.js';
import { HostForward } from './host-forward.js';
import type { RnnLm } from './lm.js';
import { TfjsForward } from './tfjs-forward.js';

const forwards = new WeakMap<RnnLm, Forward>();

/** The model's forward pass, on the engine the model was built for. */
export function forwardOf(model: RnnLm): Forward {
  let forward = forwards.get(model);
  if (forward === undefined) {
    forward = model.kernels === undefined ? new TfjsForward(model) : new HostForward(model.kernels, model);
    forwards.set(model, forward);
  }
  return forward;
}

/** A batch-1 state carried between calls: generation's loop. */
export class Stepper {
  private readonly forward: Forward;
  private readonly state: { h: Float32Array[]; c: Float32Array[] };

  constructor(model: RnnLm) {
    this.forward = forwardOf(model);
    this.state = zeroHostState(model.config, 1);
  }

  /** Feeds `ids` (at least one) and returns the logits [vocabSize] after the last. */
  advance(ids: Int32Array): Float32Array {
    return this.forward.run(ids, ids.length, 1, this.state.h, this.state.c, true);
  }
}
