import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

import { nativeLibraryEnv } from '../config.js';
import { errors } from '../errors.js';

/** The dimensions every layer call takes: T steps, B sequences, I inputs, H hidden units. */
export interface LayerDims {
  steps: number;
  batch: number;
  input: number;
  hidden: number;
}

/** The cell kinds of oneDNN's RNN primitives as the addon names them (lstm, lbr_gru, vanilla_rnn tanh). */
export type NativeCell = 'lstm' | 'gru' | 'rnn';

export interface RnnShape extends LayerDims {
  cell: NativeCell;
}

/**
 * One layer's forward pass (native/src/onednn.h has the layouts: oneDNN's plain ones, gates in
 * its order). `c0` and `cLast` are LSTM's (empty otherwise). With a `workspace` of
 * `rnnWorkspaceSize` floats it is the training pass, and the workspace what its backward reads.
 */
export interface RnnForwardArgs extends RnnShape {
  x: Float32Array;
  weightsLayer: Float32Array;
  weightsIter: Float32Array;
  bias: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  out: Float32Array;
  hLast: Float32Array;
  cLast: Float32Array;
  workspace?: Float32Array | undefined;
}

/** A layer's weights packed by the addon for {@link NativeKernels.rnnInfer}; native memory the GC frees. */
export type PackedLayer = { readonly __brand: 'PackedLayer' };

/** The weights {@link NativeKernels.rnnPack} packs: oneDNN's plain layouts, as {@link RnnForwardArgs}. */
export interface RnnPackArgs {
  cell: NativeCell;
  input: number;
  hidden: number;
  weightsLayer: Float32Array;
  weightsIter: Float32Array;
  bias: Float32Array;
}

/** An inference forward pass on packed weights: {@link RnnForwardArgs} without a workspace. */
export interface RnnInferArgs extends RnnShape {
  packed: PackedLayer;
  x: Float32Array;
  h0: Float32Array;
  c0: Float32Array;
  out: Float32Array;
  hLast: Float32Array;
  cLast: Float32Array;
}

/** The backward pass of a training forward pass (same arrays), writing every gradient. */
export interface RnnBackwardArgs extends RnnForwardArgs {
  workspace: Float32Array;
  dOut: Float32Array;
  dHLast: Float32Array;
  dCLast: Float32Array;
  dX: Float32Array;
  dH0: Float32Array;
  dC0: Float32Array;
  dWeightsLayer: Float32Array;
  dWeightsIter: Float32Array;
  dBias: Float32Array;
}

/**
 * The kernels of native/: oneDNN's RNN primitives for one layer (forward, training forward,
 * backward; primitives cached per shape and thread) and its sgemm, built by node-gyp. The
 * addon checks every array's length against the dimensions.
 */
export interface NativeKernels {
  rnnForward(args: RnnForwardArgs): void;
  rnnBackward(args: RnnBackwardArgs): void;
  /** Packs a layer's weights once for every {@link rnnInfer} call on them (native/src/fwd.h). */
  rnnPack(args: RnnPackArgs): PackedLayer;
  /** The forward pass of inference (scoring, generation), by hand on packed weights; same results as rnnForward. */
  rnnInfer(args: RnnInferArgs): void;
  /** Floats of the workspace a training forward pass of this shape fills. */
  rnnWorkspaceSize(shape: RnnShape): number;
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
  /**
   * One optimizer step over equal-length arrays: out = w − rule(g · scale), kind 0 SGD, 1 Adam,
   * 2 RMSprop; `m` (Adam) and `v` (Adam, RMSprop) are the moments, updated in place; `hyper`
   * is [lr, beta1 | rho, beta2 | eps, eps, lr / (1 − beta1^t), 1 / (1 − beta2^t)].
   */
  update(
    kind: 0 | 1 | 2,
    w: Float32Array,
    g: Float32Array,
    m: Float32Array | null,
    v: Float32Array | null,
    out: Float32Array,
    scale: number,
    hyper: Float64Array,
  ): void;
  /**
   * out[r] = −log softmax(logits[r])[targets[r]] over rows [targets.length, V], in double
   * precision as logProbability (logprobs.ts); NaN where a target is outside the vocabulary.
   */
  nllRows(logits: Float32Array, targets: Int32Array, out: Float32Array): void;
  /**
   * Inverted dropout: `mask` gets 0 with probability `rate`, else 1 / (1 − rate), drawn from
   * `seed` (a hash of the seed and the index); out = x · mask.
   */
  dropout(x: Float32Array, mask: Float32Array, out: Float32Array, rate: number, seed: number): void;
  /** out = a · b, elementwise. */
  multiply(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** Σ x², in double precision. */
  sumSquares(x: Float32Array): number;
  /** out[r] = table[ids[r]] for rows of `dim` floats (out [ids.length, dim], table [rows, dim]). */
  gatherRows(out: Float32Array, ids: Int32Array, table: Float32Array, dim: number): void;
  /** table[ids[r]] += src[r] for rows of `dim` floats. */
  scatterAddRows(src: Float32Array, ids: Int32Array, table: Float32Array, dim: number): void;
  /**
   * The mean NLL of `targets` under softmax(logits + bias) over rows [targets.length, V];
   * `logits` is overwritten with the gradient of that mean, whose column sums are added into
   * `dBias`. NaN when a target is outside the vocabulary.
   */
  softmaxXent(logits: Float32Array, bias: Float32Array, targets: Int32Array, dBias: Float32Array): number;
  /** The OpenMP threads of this JavaScript thread's oneDNN calls. */
  setThreads(threads: number): void;
  /** The library ("oneDNN 2.6.3"), the instruction set its kernels use on this CPU, and the threads. */
  info(): { library: string; isa: string; threads: number };
}

/** `auto`: use the native kernels where they load; `on`: fail without them; `off`: pure tfjs. */
export type NativeKernelMode = 'auto' | 'on' | 'off';

/** What a process says about its kernels (startup log, `/readyz`). */
export interface NativeStatus {
  /** Whether the recurrent layers and matMuls of this process run on the native kernels. */
  inUse: boolean;
  /** The kernel library and its version ("oneDNN 2.6.3"), when the addon loaded. */
  build: string | null;
  /** The instruction set oneDNN's kernels use on this CPU ("avx2", "avx512_core", …), when the addon loaded. */
  core: string | null;
  /** The kernels' threads, when the addon loaded. */
  threads: number | null;
  /** Why they are not in use: turned off, no host-memory backend, not built, or the load error. */
  reason: string | null;
}

// Relative to src/ml and dist/ml alike.
const ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/rnnlm_native.node', import.meta.url));
const BUILD_HINT = 'install libdnnl-dev and run npm run build:native';

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
        throw errors.nativeFailed(name, err);
      }
    };
  }
  return wrapped as unknown as NativeKernels;
}

/** Loads the addon at `path`; when it cannot, says why: missing, or the loader's own error. */
export function loadAddon(path: string): LoadResult {
  if (!existsSync(path)) return { kernels: null, error: `not built (${path} is missing)` };
  nativeLibraryEnv();
  try {
    return { kernels: guarded(createRequire(import.meta.url)(path) as NativeKernels) };
  } catch (err) {
    return {
      kernels: null,
      error: `${path} failed to load: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** The addon, or null when it was not built (no oneDNN, no compiler) or cannot load. */
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
    throw errors.nativeUnavailable(String(whyNot));
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
  const info = active.info();
  return { inUse: true, build: info.library, core: info.isa, threads: info.threads, reason: null };
}
