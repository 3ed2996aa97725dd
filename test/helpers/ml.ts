import { readFileSync } from 'node:fs';

import type { BackendInfo } from '../../src/ml/backend.js';
import { initBackend } from '../../src/ml/backend.js';
import type { RunConfigInput } from '../../src/ml/config.js';
import { loadNativeKernels, type NativeKernelMode } from '../../src/ml/native.js';

/** 30 kB of tinyshakespeare, copied into the repository so unit tests are self-contained. */
export const SHAKESPEARE = readFileSync(new URL('../fixtures/shakespeare-30k.txt', import.meta.url), 'utf8');

/** The backend the unit tests run on: wasm, as the service does here, with the native kernels as asked. */
export function testBackend(native: NativeKernelMode = 'auto'): Promise<BackendInfo> {
  return initBackend('wasm', native);
}

/**
 * Both engines a suite runs on: the native kernels (with the host-memory generation stepper)
 * and tfjs alone (with the tfjs stepper), so each is checked, leaks included.
 */
export const KERNEL_MODES = ['on', 'off'] as const;

/** Why a suite for `mode` cannot run here, or false. */
export function kernelSkip(mode: NativeKernelMode): string | false {
  return mode === 'on' && loadNativeKernels() === null
    ? 'native/ is not built (npm run build:native)'
    : false;
}

/** A model small enough that a training step takes milliseconds. */
export function tinyConfig(
  training: NonNullable<RunConfigInput['training']> = {},
  model: RunConfigInput['model'] = {},
): RunConfigInput {
  return {
    model: { layers: 2, hiddenSize: 16, embeddingSize: 8, ...model },
    training: { batchSize: 4, seqLength: 8, seed: 7, ...training },
  };
}

/** Runs `work` and counts the macrotask turns the event loop got meanwhile. */
export async function countEventLoopTurns<T>(work: () => Promise<T>): Promise<{ result: T; turns: number }> {
  let turns = 0;
  let running = true;
  const tick = () => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    return { result: await work(), turns };
  } finally {
    running = false;
  }
}
