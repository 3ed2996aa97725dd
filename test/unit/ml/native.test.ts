import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import { initBackend } from '../../../src/ml/backend.js';
import { loadAddon, loadNativeKernels, nativeStatus, selectNativeKernels } from '../../../src/ml/native.js';

const skip = loadNativeKernels() === null ? 'native/ is not built (npm run build:native)' : false;

after(async () => {
  await initBackend('wasm', 'auto');
});

test('an addon that is there but does not load says why, not that it is not built', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnlm-native-'));
  try {
    const path = join(dir, 'rnnlm_native.node');
    writeFileSync(path, 'not a shared object');
    const result = loadAddon(path);
    assert.equal(result.kernels, null);
    assert.match(result.error ?? '', /failed to load: .*(invalid ELF header|too short)/);
    assert.doesNotMatch(result.error ?? '', /not built/);
    assert.match(
      loadAddon(join(dir, 'missing.node')).error ?? '',
      /not built \(.*missing\.node is missing\)/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with the kernels turned off the status says so and names no build', async () => {
  await initBackend('wasm', 'off');
  assert.deepEqual(nativeStatus(), {
    inUse: false,
    build: null,
    core: null,
    threads: null,
    reason: 'turned off (RNNLM_NATIVE_KERNELS=off)',
  });
});

test('RNNLM_NATIVE_KERNELS=on on a backend they cannot serve fails with a non-retryable code', () => {
  assert.throws(
    () => selectNativeKernels('on', false),
    (err: unknown) =>
      isRnnlmError(err, 'RNNLM_NATIVE_UNAVAILABLE') && !err.retryable && /wasm and cpu/.test(err.message),
  );
});

test('the status reports the build and the thread count the backend was started with', { skip }, async () => {
  await initBackend('wasm', 'on', 1);
  const status = nativeStatus();
  assert.equal(status.inUse, true);
  assert.match(status.build ?? '', /^oneDNN \d+\.\d+/);
  assert.match(status.core ?? '', /\w+/);
  assert.equal(status.threads, 1);
  assert.equal(status.reason, null);
  await initBackend('wasm', 'on', 2);
  assert.equal(nativeStatus().threads, 2);
});

test(
  'a kernel that refuses its arguments fails with RNNLM_NATIVE_FAILED, which is not retried',
  { skip },
  () => {
    const k = loadNativeKernels();
    assert.ok(k !== null);
    assert.throws(
      () => k.sgemm(false, false, 2, 2, 2, new Float32Array(3), new Float32Array(4), new Float32Array(4)),
      (err: unknown) =>
        isRnnlmError(err, 'RNNLM_NATIVE_FAILED') && !err.retryable && /a has 3 elements/.test(err.message),
    );
  },
);

test(
  'products of one to a few rows (sgemv inside) and of many (sgemm) equal the plain product for every transposition',
  { skip },
  () => {
    const k = loadNativeKernels();
    assert.ok(k !== null);
    k.setThreads(2);
    // [m, 5] x [5, 7] runs on the calling thread; the others are big enough to be split over
    // the kernels' threads (by columns at up to 4 rows or when they outnumber the rows, else
    // by rows), in parts that are not multiples of 8.
    for (const [n, kk, rows] of [
      [7, 5, [1, 3, 4, 5, 9]],
      [301, 437, [1, 3, 4, 5, 37]],
      [29, 437, [300]],
    ] as const) {
      const b = Float32Array.from({ length: kk * n }, (_, i) => Math.cos(i * 0.7));
      for (const [m, transA] of rows.flatMap((r) => [false, true].map((t) => [r, t] as const))) {
        const a = Float32Array.from({ length: m * kk }, (_, i) => Math.sin(i + 1));
        for (const transB of [false, true]) {
          // A reused output buffer: whatever it held (NaN included) must not leak into the result.
          const c = new Float32Array(m * n).fill(Number.NaN);
          k.sgemm(transA, transB, m, n, kk, a, b, c);
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              let want = 0;
              for (let p = 0; p < kk; p++) {
                const av = a[transA ? p * m + i : i * kk + p] as number;
                const bv = b[transB ? j * kk + p : p * n + j] as number;
                want += av * bv;
              }
              assert.ok(
                Math.abs((c[i * n + j] as number) - want) < 1e-5 * (1 + Math.abs(want)),
                `${m} x ${n} x ${kk}, transA ${transA} transB ${transB}: row ${i} column ${j}`,
              );
            }
          }
        }
      }
    }
  },
);
