import * as tf from '@tensorflow/tfjs';

import type { NamedArray } from '../model/lm.js';
import type { NativeKernels } from '../native.js';

export type OptimizerName = 'adam' | 'sgd' | 'rmsprop';

/** A weight in host memory with its shape (which names its optimizer slots). */
export interface HostWeight {
  data: Float32Array;
  shape: readonly number[];
}

/**
 * Optimizers written out rather than taken from tf.train: their whole state (moments and
 * step count) must go into checkpoints and come back bit-exactly, and the learning rate
 * changes every step (decay on plateau, variable-length BPTT scaling).
 */
export interface Optimizer {
  readonly name: OptimizerName;
  /** Applies one update with the given learning rate; gradients are not disposed. */
  apply(variables: tf.Variable[], grads: tf.Tensor[], learningRate: number): void;
  /**
   * The same update in host memory on the native engine's kernels, of the gradients times
   * `gradScale` (clipping's rescale): new arrays for the weights, the inputs left unchanged.
   * One optimizer serves one engine; its checkpointed state is the same either way.
   */
  applyHost(
    k: NativeKernels,
    weights: HostWeight[],
    grads: Float32Array[],
    learningRate: number,
    gradScale: number,
  ): Float32Array[];
  /** Moments and counters as plain arrays, for checkpoints. */
  getState(): NamedArray[];
  setState(state: NamedArray[]): void;
  dispose(): void;
}

/** PyTorch's defaults for each optimizer (beta1/beta2/eps for Adam, alpha/eps for RMSprop). */
const ADAM = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
const RMSPROP = { rho: 0.99, eps: 1e-8 };

/**
 * Optimizer moments by slot key: tfjs variables for the tfjs engine, host arrays for the
 * native one, and restored checkpoint arrays until the first update takes them as either.
 */
class Slots {
  private readonly vars = new Map<string, tf.Variable>();
  private readonly host = new Map<string, NamedArray>();
  private readonly restored = new Map<string, NamedArray>();

  get(key: string, like: tf.Tensor): tf.Variable {
    let v = this.vars.get(key);
    if (v === undefined) {
      const r = this.restored.get(key);
      this.restored.delete(key);
      v = tf.tidy(() =>
        tf.variable(r === undefined ? tf.zerosLike(like) : tf.tensor(r.data, r.shape), false),
      );
      this.vars.set(key, v);
    }
    return v;
  }

  /** The host slot `key` of a weight shaped like `like`. */
  getHost(key: string, like: HostWeight): Float32Array {
    let a = this.host.get(key);
    if (a === undefined) {
      const r = this.restored.get(key);
      this.restored.delete(key);
      const data = r === undefined ? new Float32Array(like.data.length) : Float32Array.from(r.data);
      a = { name: key, shape: [...like.shape], data };
      this.host.set(key, a);
    }
    return a.data;
  }

  arrays(): NamedArray[] {
    return [
      ...[...this.restored.values()],
      ...[...this.vars].map(([name, v]) => ({
        name,
        shape: [...v.shape],
        data: v.dataSync() as Float32Array,
      })),
      ...[...this.host.values()].map((a) => ({ ...a, data: a.data.slice() })),
    ];
  }

  restore(state: NamedArray[]): void {
    this.dispose();
    for (const s of state) this.restored.set(s.name, s);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
    this.host.clear();
    this.restored.clear();
  }
}

function slotKey(v: { shape: readonly number[] }, i: number, kind: string): string {
  // Variable names carry a per-process suffix; the position in the list is stable.
  return `${kind}/${i}:${v.shape.join('x')}`;
}

/**
 * One native update of every weight (`NativeKernels.update`, rule `kind`) into new arrays,
 * with the moments in the host slots named `m` and `v` (none where the rule has no such moment).
 */
function updateHost(
  k: NativeKernels,
  slots: Slots,
  kind: 0 | 1 | 2,
  weights: HostWeight[],
  grads: Float32Array[],
  scale: number,
  hyper: Float64Array,
  m?: string,
  v?: string,
): Float32Array[] {
  return weights.map((w, i) => {
    const out = new Float32Array(w.data.length);
    const slot = (name: string | undefined) =>
      name === undefined ? null : slots.getHost(slotKey(w, i, name), w);
    k.update(kind, w.data, grads[i] as Float32Array, slot(m), slot(v), out, scale, hyper);
    return out;
  });
}

export function createOptimizer(name: OptimizerName): Optimizer {
  const slots = new Slots();
  let t = 0;
  const base = {
    name,
    getState(): NamedArray[] {
      return [{ name: 'step', shape: [1], data: new Float32Array([t]) }, ...slots.arrays()];
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
        applyHost(k, weights, grads, lr, scale) {
          t++;
          return updateHost(k, slots, 0, weights, grads, scale, Float64Array.of(lr, 0, 0, 0, 0, 0));
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
        applyHost(k, weights, grads, lr, scale) {
          t++;
          const { beta1, beta2, eps } = ADAM;
          const hyper = Float64Array.of(lr, beta1, beta2, eps, lr / (1 - beta1 ** t), 1 / (1 - beta2 ** t));
          return updateHost(k, slots, 1, weights, grads, scale, hyper, 'm', 'v');
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
        applyHost(k, weights, grads, lr, scale) {
          t++;
          const { rho, eps } = RMSPROP;
          return updateHost(
            k,
            slots,
            2,
            weights,
            grads,
            scale,
            Float64Array.of(lr, rho, eps, 0, 0, 0),
            undefined,
            'sq',
          );
        },
      };
  }
}
