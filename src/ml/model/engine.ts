/**
 * Which engine runs a model, decided once: when the model is built (RnnLm captures the native
 * engine then, and trains on it), and here for its forward pass over host arrays.
 */
import type { Forward } from './forward.js';
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
