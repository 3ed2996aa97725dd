import { createRequire } from 'node:module';

import { RnnlmError } from '../errors.js';

/**
 * The kernels of native/ (fused LSTM, GRU and RNN layers and sgemm, in C on OpenBLAS, built
 * by node-gyp). Arrays are row-major and owned by the caller; native/src/recurrent.h has the
 * layouts.
 */
export interface NativeKernels {
  lstmForward(
    steps: number,
    batch: number,
    input: number,
    hidden: number,
    x: Float32Array,
    kernel: Float32Array,
    recurrent: Float32Array,
    bias: Float32Array,
    h0: Float32Array,
    c0: Float32Array,
    out: Float32Array,
    cells: Float32Array,
    gates: Float32Array,
  ): void;
  lstmBackward(
    steps: number,
    batch: number,
    input: number,
    hidden: number,
    x: Float32Array,
    kernel: Float32Array,
    recurrent: Float32Array,
    h0: Float32Array,
    c0: Float32Array,
    out: Float32Array,
    cells: Float32Array,
    gates: Float32Array,
    dOut: Float32Array,
    dCellLast: Float32Array,
    scale: Float32Array | null,
    dX: Float32Array,
    dKernel: Float32Array,
    dRecurrent: Float32Array,
    dBias: Float32Array,
  ): void;
  gruForward(
    steps: number,
    batch: number,
    input: number,
    hidden: number,
    x: Float32Array,
    kernel: Float32Array,
    recurrent: Float32Array,
    bias: Float32Array,
    recurrentBias: Float32Array,
    h0: Float32Array,
    out: Float32Array,
    hn: Float32Array,
    gates: Float32Array,
  ): void;
  gruBackward(
    steps: number,
    batch: number,
    input: number,
    hidden: number,
    x: Float32Array,
    kernel: Float32Array,
    recurrent: Float32Array,
    h0: Float32Array,
    out: Float32Array,
    hn: Float32Array,
    gates: Float32Array,
    dOut: Float32Array,
    scale: Float32Array | null,
    dX: Float32Array,
    dKernel: Float32Array,
    dRecurrent: Float32Array,
    dBias: Float32Array,
    dRecurrentBias: Float32Array,
  ): void;
  rnnForward(
    steps: number,
    batch: number,
    input: number,
    hidden: number,
    x: Float32Array,
    kernel: Float32Array,
    recurrent: Float32Array,
    bias: Float32Array,
    h0: Float32Array,
    out: Float32Array,
  ): void;
  rnnBackward(
    steps: number,
    batch: number,
    input: number,
    hidden: number,
    x: Float32Array,
    kernel: Float32Array,
    recurrent: Float32Array,
    h0: Float32Array,
    out: Float32Array,
    dOut: Float32Array,
    scale: Float32Array | null,
    dX: Float32Array,
    dKernel: Float32Array,
    dRecurrent: Float32Array,
    dBias: Float32Array,
  ): void;
  /** c [m, n] = op(a) · op(b), row-major; op(a) is [m, k] (`a` stored [k, m] when transposed). */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
  ): void;
  /** OpenBLAS worker threads. */
  setThreads(threads: number): void;
  blas(): { config: string; threads: number };
}

/** `auto`: use the native kernels where they load; `on`: fail without them; `off`: pure tfjs. */
export type NativeKernelMode = 'auto' | 'on' | 'off';

// Relative to src/ml and dist/ml alike.
const ADDON = '../../native/build/Release/rnnlm_native.node';

let loaded: NativeKernels | null | undefined;
let active: NativeKernels | undefined;

/** The addon, or null when it was not built (no OpenBLAS, no compiler) or cannot load. */
export function loadNativeKernels(): NativeKernels | null {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)(ADDON) as NativeKernels;
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

/**
 * Turns the native kernels on or off for this process (the tfjs backend selector calls it).
 * They only help where the tensors already live in host memory (the wasm and cpu backends);
 * `usable` is false elsewhere.
 */
export function selectNativeKernels(mode: NativeKernelMode, usable: boolean): NativeKernels | undefined {
  const kernels = mode === 'off' || !usable ? null : loadNativeKernels();
  if (mode === 'on' && kernels === null) {
    throw new RnnlmError(
      'RNNLM_BACKEND_UNAVAILABLE',
      usable
        ? 'RNNLM_NATIVE_KERNELS=on but native/build/Release/rnnlm_native.node is not built: install libopenblas-dev and run npm run build:native'
        : 'RNNLM_NATIVE_KERNELS=on needs the wasm or cpu backend',
    );
  }
  active = kernels ?? undefined;
  return active;
}

/** The kernels the model code should call, if any. */
export function nativeKernels(): NativeKernels | undefined {
  return active;
}
