import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

import { errors } from '../errors.js';
import { nativeStatus, selectNativeKernels, type NativeKernelMode, type NativeStatus } from './native.js';
import { installWasmKernels } from './wasm-kernels.js';

/** Which tfjs backend to run on; `auto` takes the fastest one that loads. */
export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** tfjs backend name: `tensorflow` (libtensorflow, CPU or CUDA), `wasm` or `cpu`. */
  name: string;
  /** The npm package that provides it. */
  package: string;
  /** True when the CUDA build of libtensorflow was loaded. */
  gpu: boolean;
  tfjsVersion: string;
  /**
   * The native recurrent kernels in use (the BLAS build and its threads), or null when the
   * recurrent layers run on tfjs ops alone.
   */
  nativeKernels: string | null;
  /** The native engine of the thread that selected this backend: in use, or why not. */
  native: NativeStatus;
}

// The native bindings are optional dependencies that cannot install everywhere, so they are
// imported by a computed name: the type checker and bundlers must not require them.
const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

let current: Promise<BackendInfo> | undefined;
let currentPreference: string | undefined;
let nativeMode: NativeKernelMode = 'auto';
let nativeThreads: number | undefined;

async function tryNative(pkg: string): Promise<boolean> {
  try {
    await import(pkg);
  } catch {
    return false;
  }
  return tf.findBackend('tensorflow') !== null && (await tf.setBackend('tensorflow'));
}

async function select(
  preference: BackendPreference,
  native: NativeKernelMode,
  threads: number | undefined,
): Promise<BackendInfo> {
  const info = (name: string, pkg: string, gpu = false): BackendInfo => {
    // libtensorflow has its own threaded kernels (and on CUDA the data is not in host
    // memory): the native kernels serve the wasm and cpu backends.
    selectNativeKernels(native, name === 'wasm' || name === 'cpu', threads);
    const status = nativeStatus();
    return {
      name,
      package: pkg,
      gpu,
      tfjsVersion: tf.version_core,
      nativeKernels: status.inUse
        ? `${status.build ?? 'unknown build'} (${status.core ?? '?'}), ${status.threads ?? '?'} threads`
        : null,
      native: status,
    };
  };
  if (preference === 'auto' || preference === 'tensorflow') {
    for (const pkg of NATIVE_PACKAGES) {
      if (await tryNative(pkg)) return info('tensorflow', pkg, pkg.endsWith('-gpu'));
    }
    if (preference === 'tensorflow') {
      throw errors.tensorflowMissing(NATIVE_PACKAGES);
    }
  }
  if (preference === 'auto' || preference === 'wasm') {
    try {
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        installWasmKernels();
        return info('wasm', '@tensorflow/tfjs-backend-wasm');
      }
    } catch (err) {
      if (preference === 'wasm') {
        throw errors.backendNotStarted('wasm', err);
      }
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return info('cpu', '@tensorflow/tfjs-backend-cpu');
}

/**
 * Selects and initialises the tfjs backend once per process, and with it whether the
 * recurrent layers and matMuls run on the native kernels (src/ml/native.ts) and with how many
 * threads (`RNNLM_THREADS`). Later calls with the same preferences return the same answer;
 * different ones switch.
 */
export function initBackend(
  preference: BackendPreference = 'auto',
  native?: NativeKernelMode,
  threads?: number,
): Promise<BackendInfo> {
  // Without a native mode or threads, the ones chosen last stand: a readiness probe must not flip them.
  nativeMode = native ?? nativeMode;
  nativeThreads = threads ?? nativeThreads;
  const key = `${preference}/${nativeMode}/${nativeThreads ?? 'default'}`;
  if (current === undefined || currentPreference !== key) {
    currentPreference = key;
    current = select(preference, nativeMode, nativeThreads);
    current.catch(() => {
      current = undefined;
    });
  }
  return current;
}

/** Whether the active backend implements a kernel (the wasm backend lacks several). */
export function hasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}
