import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';

import { isRnnlmError } from '../../../src/errors.js';
import type { ErrorCode } from '../../../src/errors.js';
import { readModelDir, readModelMeta, writeModelDir } from '../../../src/storage/artifacts.js';
import type { ModelArtifacts, NamedArray } from '../../../src/storage/artifacts.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rnnlm-artifacts-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function bytesOf(array: Float32Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

function sampleArtifacts(): ModelArtifacts {
  // A view into a larger buffer, so writing must honour byteOffset; values a lossy path would
  // change (-0, subnormals, extremes) so equality is really bit-for-bit.
  const backing = new Float32Array(16).map((_, i) => i * 0.25 - 1);
  const special = new Float32Array([-0, -1e-45, 1e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1 / 3]);
  const weights: NamedArray[] = [
    { name: 'embedding/embeddings', shape: [3, 2], data: special },
    { name: 'lstm/kernel', shape: [2, 4], data: backing.subarray(5, 13) },
    { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
    { name: 'scalar', shape: [], data: new Float32Array([42.5]) },
  ];
  return {
    modelConfig: {
      cell: 'lstm',
      layers: 1,
      hiddenSize: 4,
      embeddingSize: 2,
      vocabSize: 3,
      tieWeights: false,
    },
    weights,
    tokenizer: { type: 'char', vocab: ['<unk>', 'a', '\n'] },
    meta: { createdAt: '2024-01-01T00:00:00.000Z', metrics: { valPerplexity: 3.5 }, backend: 'cpu' },
  };
}

function rejectsWith(code: ErrorCode, named: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(isRnnlmError(err, code), `expected ${code}, got ${String(err)}`);
    assert.ok(err.message.includes(named), `"${err.message}" does not name ${named}`);
    return true;
  };
}

async function leftovers(parent: string): Promise<string[]> {
  return (await readdir(parent)).filter((name) => name.startsWith('.'));
}

test('a written model reads back with bit-exact weights in order, tokenizer, config and meta', async (t) => {
  const dir = join(await tempDir(t), 'model');
  const artifacts = sampleArtifacts();
  const written = await writeModelDir(dir, artifacts);

  const read = await readModelDir(dir);
  assert.deepEqual(
    read.weights.map((w) => ({ name: w.name, shape: w.shape })),
    artifacts.weights.map((w) => ({ name: w.name, shape: w.shape })),
  );
  for (const [i, w] of read.weights.entries()) {
    assert.ok(w.data instanceof Float32Array);
    assert.deepEqual(bytesOf(w.data), bytesOf(artifacts.weights[i]!.data), w.name);
  }
  assert.deepEqual(read.tokenizer, artifacts.tokenizer);
  assert.deepEqual(read.modelConfig, artifacts.modelConfig);
  assert.deepEqual(read.meta, written);
  assert.deepEqual({ ...read.meta, files: undefined }, { ...artifacts.meta, files: undefined });
});

test('meta.json records the sha256 of each file, matching an independent hash', async (t) => {
  const dir = join(await tempDir(t), 'model');
  const written = await writeModelDir(dir, sampleArtifacts());
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(meta, written);
  const expected: Record<string, string> = {};
  for (const file of ['model.json', 'weights.bin', 'tokenizer.json']) {
    expected[file] = createHash('sha256')
      .update(await readFile(join(dir, file)))
      .digest('hex');
  }
  assert.deepEqual(meta.files, expected);
  assert.deepEqual((await readdir(dir)).sort(), ['meta.json', 'model.json', 'tokenizer.json', 'weights.bin']);
});

test('model.json is tfjs LayersModel-style JSON with a float32 manifest over weights.bin', async (t) => {
  const dir = join(await tempDir(t), 'model');
  const artifacts = sampleArtifacts();
  await writeModelDir(dir, artifacts);
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  const model: unknown = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  assert.deepEqual(model, {
    format: 'rnnlm-rnn',
    generatedBy: `rnnlm ${pkg.version}`,
    convertedBy: null,
    modelTopology: artifacts.modelConfig,
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: artifacts.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })),
      },
    ],
  });
  const expectedBytes = Buffer.concat(artifacts.weights.map((w) => bytesOf(w.data)));
  assert.deepEqual(await readFile(join(dir, 'weights.bin')), expectedBytes);
});

test('flipping one byte of weights.bin is RNNLM_ARTIFACT_CORRUPT naming weights.bin', async (t) => {
  const dir = join(await tempDir(t), 'model');
  await writeModelDir(dir, sampleArtifacts());
  const path = join(dir, 'weights.bin');
  const bytes = await readFile(path);
  bytes[7]! ^= 0x01;
  await writeFile(path, bytes);
  await assert.rejects(readModelDir(dir), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'weights.bin'));
});

test('a truncated weights.bin is RNNLM_ARTIFACT_CORRUPT naming weights.bin', async (t) => {
  const dir = join(await tempDir(t), 'model');
  await writeModelDir(dir, sampleArtifacts());
  await truncate(join(dir, 'weights.bin'), 10);
  await assert.rejects(readModelDir(dir), (err) => {
    rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'weights.bin')(err);
    assert.match((err as Error).message, /10 bytes/);
    return true;
  });
});

test('an edited tokenizer.json, a missing model.json or malformed meta.json is corrupt', async (t) => {
  const root = await tempDir(t);
  const edited = join(root, 'edited');
  await writeModelDir(edited, sampleArtifacts());
  await writeFile(
    join(edited, 'tokenizer.json'),
    JSON.stringify({ type: 'char', vocab: ['<unk>', 'b', '\n'] }),
  );
  await assert.rejects(readModelDir(edited), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'tokenizer.json'));

  const missing = join(root, 'missing');
  await writeModelDir(missing, sampleArtifacts());
  await rm(join(missing, 'model.json'));
  await assert.rejects(readModelDir(missing), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'model.json'));

  const malformed = join(root, 'malformed');
  await writeModelDir(malformed, sampleArtifacts());
  await writeFile(join(malformed, 'meta.json'), '{"files": ');
  await assert.rejects(readModelDir(malformed), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'meta.json'));
  await assert.rejects(readModelMeta(malformed), rejectsWith('RNNLM_ARTIFACT_CORRUPT', 'meta.json'));
});

test('weights holding NaN or an infinity, with matching hashes, are RNNLM_MODEL_NONFINITE naming the array', async (t) => {
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    const dir = join(await tempDir(t), 'model');
    const artifacts = sampleArtifacts();
    const kernel = artifacts.weights[1];
    assert.ok(kernel !== undefined);
    kernel.data[2] = bad;
    await writeModelDir(dir, artifacts);
    await assert.rejects(readModelDir(dir), (err: unknown) => {
      assert.ok(isRnnlmError(err, 'RNNLM_MODEL_NONFINITE'), String(err));
      assert.match(err.message, new RegExp(`holds? ${String(bad)} \\(in lstm/kernel, element 2\\)`));
      return true;
    });
  }
});

test('a missing directory or meta.json is RNNLM_MODEL_NOT_FOUND naming the path', async (t) => {
  const root = await tempDir(t);
  const absent = join(root, 'nope');
  await assert.rejects(readModelDir(absent), rejectsWith('RNNLM_MODEL_NOT_FOUND', absent));
  await assert.rejects(readModelMeta(absent), rejectsWith('RNNLM_MODEL_NOT_FOUND', absent));
  const empty = join(root, 'empty');
  await mkdir(empty);
  await assert.rejects(readModelDir(empty), rejectsWith('RNNLM_MODEL_NOT_FOUND', empty));
});

test('readModelMeta returns meta.json without checking the other files', async (t) => {
  const dir = join(await tempDir(t), 'model');
  const written = await writeModelDir(dir, sampleArtifacts());
  await truncate(join(dir, 'weights.bin'), 0);
  assert.deepEqual(await readModelMeta(dir), written);
});

test('an existing directory is refused without overwrite and replaced with it', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'model');
  const first = sampleArtifacts();
  await writeModelDir(dir, first);

  const second = sampleArtifacts();
  second.weights = [{ name: 'only', shape: [2], data: new Float32Array([7, 8]) }];
  second.meta = { createdAt: 'later' };
  await assert.rejects(writeModelDir(dir, second), rejectsWith('RNNLM_INVALID_CONFIG', dir));
  assert.deepEqual((await readModelDir(dir)).meta.createdAt, first.meta.createdAt);

  await writeModelDir(dir, second, { overwrite: true });
  const read = await readModelDir(dir);
  assert.equal(read.meta.createdAt, 'later');
  assert.deepEqual(read.weights, second.weights);
  assert.deepEqual(await leftovers(root), []);
});

test('no temporary directories are left after a success or a rejected write', async (t) => {
  const root = await tempDir(t);
  await writeModelDir(join(root, 'ok'), sampleArtifacts());
  assert.deepEqual(await readdir(root), ['ok']);

  const bad = sampleArtifacts();
  bad.weights.push({ name: 'short', shape: [2, 3], data: new Float32Array(5) });
  await assert.rejects(writeModelDir(join(root, 'bad'), bad), /short.*5 values.*needs 6/);
  assert.deepEqual(await readdir(root), ['ok']);
});
