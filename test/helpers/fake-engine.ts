import { targetNll } from '../../src/ml/logprobs.js';
import type { Forward } from '../../src/ml/model/forward.js';

/**
 * A forward pass without a model, for the batcher's unit tests: each row's state is a running
 * hash of the tokens it was fed (kept in its first hidden unit), and its logits favour the
 * token that hash picks. A row's logits so depend on its own tokens only, as a real model's
 * do, so a row answers the same alone and batched. `failing` makes the next calls throw.
 */
export class FakeEngine implements Forward {
  readonly engine = 'tfjs' as const;
  /** Each call: how many rows, how many steps. */
  readonly calls: { batch: number; steps: number }[] = [];
  failing = false;

  constructor(
    private readonly vocabSize: number,
    private readonly hidden: number,
  ) {}

  run(
    ids: Int32Array,
    steps: number,
    batch: number,
    h: readonly Float32Array[],
    _c: readonly Float32Array[],
    lastOnly: boolean,
  ): Float32Array {
    if (this.failing) throw new Error('the fake engine failed');
    this.calls.push({ batch, steps });
    const V = this.vocabSize;
    const state = h[0]!;
    const logits = new Float32Array((lastOnly ? 1 : steps) * batch * V);
    for (let t = 0; t < steps; t++) {
      for (let b = 0; b < batch; b++) {
        const at = b * this.hidden;
        state[at] = (state[at]! * 31 + ids[t * batch + b]! + 1) % 997;
        if (lastOnly && t < steps - 1) continue;
        const row = (lastOnly ? b : t * batch + b) * V;
        for (let v = 0; v < V; v++) logits[row + v] = v === state[at] % V ? 4 : (v % 3) - 1;
      }
    }
    return logits;
  }

  nll(logits: Float32Array, targets: Int32Array): Float32Array {
    return targetNll(logits, targets);
  }
}
