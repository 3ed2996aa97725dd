/** What the native-engine tests share: the skip rule, a small model, tokens and a closeness check. */
import assert from 'node:assert/strict';

import type { ModelConfig } from '../../src/ml/config.js';
import { loadNativeKernels, type NativeKernels } from '../../src/ml/native.js';
import { Rng } from '../../src/ml/rng.js';

/**
 * Elsewhere these tests say why they skip (and the test runner says it loudly); under CI,
 * which must test the kernels it ships, they run and fail instead.
 */
export const nativeSkip: string | false =
  loadNativeKernels() === null && process.env.CI !== 'true'
    ? 'native/ is not built (npm run build:native)'
    : false;

/** A 2-layer LSTM small enough for exact comparisons, with `overrides`. */
export function smallConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    cell: 'lstm',
    layers: 2,
    hiddenSize: 24,
    embeddingSize: 10,
    dropout: 0,
    tieWeights: false,
    vocabSize: 13,
    ...overrides,
  };
}

/** `n` token ids below `vocab`, drawn from `seed`. */
export function tokens(seed: number, n: number, vocab: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, () => rng.int(vocab));
}

/** Every element within `tolerance` relative difference (against 1e-4 + |expected|). */
export function assertClose(
  actual: Float32Array,
  expected: Float32Array,
  what: string,
  tolerance = 1e-3,
): void {
  assert.equal(actual.length, expected.length, what);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i] as number;
    const e = expected[i] as number;
    worst = Math.max(worst, Math.abs(a - e) / (1e-4 + Math.abs(e)));
  }
  assert.ok(worst < tolerance, `${what}: worst relative difference ${worst}`);
}

/** The native kernels, which a test that did not skip needs: fails when they are not there. */
export function kernels(): NativeKernels {
  const k = loadNativeKernels();
  assert.ok(k !== null, 'the native kernels are not built');
  return k;
}
