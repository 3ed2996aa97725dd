import * as tf from '@tensorflow/tfjs';

import type { NamedArray } from '../model/lm.js';

export type OptimizerName = 'adam' | 'sgd' | 'rmsprop';

/**
 * Optimizers written out rather than taken from tf.train: their whole state (moments and
 * step count) must go into checkpoints and come back bit-exactly, and the learning rate
 * changes every step (decay on plateau, variable-length BPTT scaling).
 */
export interface Optimizer {
  readonly name: OptimizerName;
  /** Applies one update with the given learning rate; gradients are not disposed. */
  apply(variables: tf.Variable[], grads: tf.Tensor[], learningRate: number): void;
  /** Moments and counters as plain arrays, for checkpoints. */
  getState(): NamedArray[];
  setState(state: NamedArray[]): void;
  dispose(): void;
}

/** PyTorch's defaults for each optimizer (beta1/beta2/eps for Adam, alpha/eps for RMSprop). */
const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
const RMSPROP = { rho: 0.99, eps: 1e-8 };

class Slots {
  private readonly slots = new Map<string, tf.Variable>();

  get(key: string, like: tf.Tensor): tf.Variable {
    let v = this.slots.get(key);
    if (v === undefined) {
      v = tf.tidy(() => tf.variable(tf.zerosLike(like), false));
      this.slots.set(key, v);
    }
    return v;
  }

  entries(): [string, tf.Variable][] {
    return [...this.slots];
  }

  restore(state: NamedArray[]): void {
    this.dispose();
    for (const s of state)
      this.slots.set(
        s.name,
        tf.tidy(() => tf.variable(tf.tensor(s.data, s.shape), false)),
      );
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}

function toArrays(entries: [string, tf.Variable][]): NamedArray[] {
  return entries.map(([name, v]) => ({ name, shape: [...v.shape], data: v.dataSync() as Float32Array }));
}

function slotKey(v: tf.Variable, i: number, kind: string): string {
  // Variable names carry a per-process suffix; the position in the list is stable.
  return `${kind}/${i}:${v.shape.join('x')}`;
}

export function createOptimizer(name: OptimizerName): Optimizer {
  const slots = new Slots();
  let t = 0;
  const base = {
    name,
    getState(): NamedArray[] {
      return [{ name: 'step', shape: [1], data: new Float32Array([t]) }, ...toArrays(slots.entries())];
    },
    setState(state: NamedArray[]): void {
      const step = state.find((s) => s.name === 'step');
      t = step?.data[0] ?? 0;
      slots.restore(state.filter((s) => s.name !== 'step'));
    },
    dispose(): void {
      slots.dispose();
    },
  };
  switch (name) {
    case 'sgd':
      return {
        ...base,
        apply(variables, grads, lr) {
          t++;
          tf.tidy(() => variables.forEach((v, i) => v.assign(tf.sub(v, tf.mul(grads[i] as tf.Tensor, lr)))));
        },
      };
    case 'adam':
      return {
        ...base,
        apply(variables, grads, lr) {
          t++;
          const { beta1, beta2, eps } = ADAM;
          const c1 = 1 - beta1 ** t;
          const c2 = 1 - beta2 ** t;
          tf.tidy(() =>
            variables.forEach((v, i) => {
              const g = grads[i] as tf.Tensor;
              const m = slots.get(slotKey(v, i, 'm'), v);
              const s = slots.get(slotKey(v, i, 'v'), v);
              m.assign(tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1)));
              s.assign(tf.add(tf.mul(s, beta2), tf.mul(tf.square(g), 1 - beta2)));
              const denom = tf.add(tf.sqrt(tf.div(s, c2)), eps);
              v.assign(tf.sub(v, tf.mul(tf.div(m, denom), lr / c1)));
            }),
          );
        },
      };
    case 'rmsprop':
      return {
        ...base,
        apply(variables, grads, lr) {
          t++;
          const { rho, eps } = RMSPROP;
          tf.tidy(() =>
            variables.forEach((v, i) => {
              const g = grads[i] as tf.Tensor;
              const s = slots.get(slotKey(v, i, 'sq'), v);
              s.assign(tf.add(tf.mul(s, rho), tf.mul(tf.square(g), 1 - rho)));
              v.assign(tf.sub(v, tf.mul(tf.div(g, tf.add(tf.sqrt(s), eps)), lr)));
            }),
          );
        },
      };
  }
}
