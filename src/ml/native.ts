import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { RnnlmError } from '../errors.js';

/** The dimensions every layer call takes: T steps, B sequences, I inputs, H hidden units. */
export interface LayerDims {
  steps: number;
  batch: number;
  input: number;
  hidden: number;
}

/** Arrays are row-major, owned by the caller; native/src/recurrent.h has the layouts. */
export interface LstmForwardArgs extends LayerDims {
  x: Float32Array;
  kernel: Float32Array;
  recurrent: Float32Array;
  bias: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  out: Float32Array;
  cells: Float32Array;
  gates: Float32Array;
}

/** Per-step factors on the gradient through the state (randomized truncation); null: all ones. */
type Scale = Float32Array | null;

export interface LstmBackwardArgs extends LayerDims {
  x: Float32Array;
  kernel: Float32Array;
  recurrent: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  out: Float32Array;
  cells: Float32Array;
  gates: Float32Array;
  dOut: Float32Array;
  dCellLast: Float32Array;
  scale: Scale;
  dX: Float32Array;
  dKernel: Float32Array;
  dRecurrent: Float32Array;
  dBias: Float32Array;
}

export interface GruForwardArgs extends LayerDims {
  x: Float32Array;
  kernel: Float32Array;
  recurrent: Float32Array;
  bias: Float32Array;
  recurrentBias: Float32Array;
  h0: Float32Array;
  out: Float32Array;
  hn: Float32Array;
  gates: Float32Array;
}

export interface GruBackwardArgs extends LayerDims {
  x: Float32Array;
  kernel: Float32Array;
  recurrent: Float32Array;
  h0: Float32Array;
  out: Float32Array;
  hn: Float32Array;
  gates: Float32Array;
  dOut: Float32Array;
  scale: Scale;
  dX: Float32Array;
  dKernel: Float32Array;
  dRecurrent: Float32Array;
  dBias: Float32Array;
  dRecurrentBias: Float32Array;
}

export interface RnnForwardArgs extends LayerDims {
  x: Float32Array;
  kernel: Float32Array;
  recurrent: Float32Array;
  bias: Float32Array;
  h0: Float32Array;
  out: Float32Array;
}

export interface RnnBackwardArgs extends LayerDims {
  x: Float32Array;
  kernel: Float32Array;
  recurrent: Float32Array;
  h0: Float32Array;
  out: Float32Array;
  dOut: Float32Array;
  scale: Scale;
  dX: Float32Array;
  dKernel: Float32Array;
  dRecurrent: Float32Array;
  dBias: Float32Array;
}

/**
 * The kernels of native/ (fused LSTM, GRU and RNN layers and sgemm, in C on OpenBLAS, built
 * by node-gyp). Each layer function takes one options object; the addon checks every array's
 * length against the dimensions.
 */
export interface NativeKernels {
  lstmForward(args: LstmForwardArgs): void;
  lstmBackward(args: LstmBackwardArgs): void;
  gruForward(args: GruForwardArgs): void;
  gruBackward(args: GruBackwardArgs): void;
  rnnForward(args: RnnForwardArgs): void;
  rnnBackward(args: RnnBackwardArgs): void;
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
  /** The kernels' threads (OpenBLAS itself runs single-threaded; the kernels split their work). */
  setThreads(threads: number): void;
  blas(): { config: string; core: string; threads: number };
}

/** `auto`: use the native kernels where they load; `on`: fail without them; `off`: pure tfjs. */
export type NativeKernelMode = 'auto' | 'on' | 'off';

/** What a process says about its kernels (startup log, `/readyz`). */
export interface NativeStatus {
  /** Whether the recurrent layers and matMuls of this process run on the native kernels. */
  inUse: boolean;
  /** The OpenBLAS build (its first words), when the addon loaded. */
  build: string | null;
  /** The OpenBLAS kernel set in use on this CPU ("Haswell", "SkylakeX", …), when the addon loaded. */
  core: string | null;
  /** The kernels' threads, when the addon loaded. */
  threads: number | null;
  /** Why they are not in use: turned off, no host-memory backend, not built, or the load error. */
  reason: string | null;
}

// Relative to src/ml and dist/ml alike.
const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/rnnlm_native.node', import.meta.url));
const BUILD_HINT = 'install libopenblas-dev and run npm run build:native';

export type LoadResult = { kernels: NativeKernels; error?: undefined } | { kernels: null; error: string };

let loaded: LoadResult | undefined;
let active: NativeKernels | undefined;
let whyNot: string | null = 'the backend has not been selected yet';

/**
 * Every call of the addon, with its errors (bad lengths, no memory for scratch space) turned
 * into RNNLM_NATIVE_FAILED: a kernel that refuses its arguments fails the same way on a retry.
 */
function guarded(addon: NativeKernels): NativeKernels {
  const wrapped = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(addon) as [string, (...args: unknown[]) => unknown][]) {
    wrapped[name] = (...args: unknown[]) => {
      try {
        return fn(...args);
      } catch (err) {
        throw new RnnlmError(
          'RNNLM_NATIVE_FAILED',
          `native kernel ${name} failed: ${err instanceof Error ? err.message : String(err)}`,
          { kernel: name },
          { cause: err },
        );
      }
    };
  }
  return wrapped as unknown as NativeKernels;
}

/** Loads the addon at `path`; when it cannot, says why: missing, or the loader's own error. */
export function loadAddon(path: string): LoadResult {
  if (!existsSync(path)) return { kernels: null, error: `not built (${path} is missing)` };
  try {
    return { kernels: guarded(createRequire(import.meta.url)(path) as NativeKernels) };
  } catch (err) {
    return {
      kernels: null,
      error: `${path} failed to load: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** The addon, or null when it was not built (no OpenBLAS, no compiler) or cannot load. */
export function loadNativeKernels(): NativeKernels | null {
  loaded ??= loadAddon(ADDON_PATH);
  return loaded.kernels;
}

/**
 * Turns the native kernels on or off for this process (the tfjs backend selector calls it).
 * They only help where the tensors already live in host memory (the wasm and cpu backends);
 * `usable` is false elsewhere. `threads` sets the kernels' thread count when given.
 *
 * @throws RnnlmError RNNLM_NATIVE_UNAVAILABLE with mode `on` when they cannot be used, saying why.
 */
export function selectNativeKernels(
  mode: NativeKernelMode,
  usable: boolean,
  threads?: number,
): NativeKernels | undefined {
  let kernels: NativeKernels | null = null;
  if (mode === 'off') whyNot = 'turned off (RNNLM_NATIVE_KERNELS=off)';
  else if (!usable)
    whyNot = 'for the wasm and cpu backends only (the tfjs backend in use keeps its own kernels)';
  else {
    kernels = loadNativeKernels();
    whyNot = loaded?.error === undefined ? null : `${loaded.error}; ${BUILD_HINT}`;
  }
  if (mode === 'on' && kernels === null) {
    throw new RnnlmError(
      'RNNLM_NATIVE_UNAVAILABLE',
      `RNNLM_NATIVE_KERNELS=on but the native kernels cannot be used: ${whyNot}`,
    );
  }
  if (kernels !== null && threads !== undefined) kernels.setThreads(threads);
  active = kernels ?? undefined;
  return active;
}

/** The kernels the model code should call, if any. */
export function nativeKernels(): NativeKernels | undefined {
  return active;
}

/** Whether this process uses the native kernels, their build and threads, or why not. */
export function nativeStatus(): NativeStatus {
  if (active === undefined) return { inUse: false, build: null, core: null, threads: null, reason: whyNot };
  const blas = active.blas();
  return {
    inUse: true,
    build: blas.config.split(' ').slice(0, 2).join(' '),
    core: blas.core,
    threads: blas.threads,
    reason: null,
  };
}
