/**
 * InferenceService over model directories as the worker publishes them: listing, ids that could
 * reach outside the store, damaged models, deletion, and the bounded cache of loaded models.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, after, test } from 'node:test';

import { loadConfig } from '../../../src/config.js';
import { loadNativeKernels } from '../../../src/ml/native.js';
import { isRnnlmError } from '../../../src/errors.js';
import { trainFromText } from '../../../src/ml/training.js';
import { writeModelDir } from '../../../src/storage/artifacts.js';
import { InferenceService } from '../../../src/inference/service.js';
import { SHAKESPEARE, testBackend, tinyConfig } from '../../helpers/ml.js';

const IDS = [
  'mdl_aaaaaaaaaaaaaaaaaaaaaaaaaa',
  'mdl_bbbbbbbbbbbbbbbbbbbbbbbbbb',
  'mdl_cccccccccccccccccccccccccc',
];
let root: string;
let models: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'rnnlm-models-'));
  models = join(root, 'models');
  const backend = await testBackend();
  const { result, artifacts } = await trainFromText({
    corpus: SHAKESPEARE.slice(0, 3000),
    config: tinyConfig({ maxSteps: 3 }, { layers: 1 }),
    backend,
  });
  result.model.dispose();
  for (const [i, id] of IDS.entries()) {
    await writeModelDir(join(models, id), {
      ...artifacts,
      meta: {
        ...artifacts.meta,
        id,
        jobId: `job_${id.slice(4)}`,
        name: `model ${i}`,
        createdAt: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
      },
    });
  }
  // A file with a secret beside the store: no id may reach it.
  await writeFile(join(root, 'secret.json'), '{"files":{}}');
});

const opened: InferenceService[] = [];

after(async () => {
  for (const s of opened) await s.close();
  await rm(root, { recursive: true, force: true });
});

function store(cacheSize = 2, env: Record<string, string> = {}): InferenceService {
  const config = loadConfig({
    RNNLM_MODEL_CACHE_SIZE: String(cacheSize),
    RNNLM_MAX_GENERATE_TOKENS: '25',
    RNNLM_BACKEND: 'wasm',
    ...env,
  });
  const s = new InferenceService({ dir: models, config });
  opened.push(s);
  return s;
}

test('list returns every published model, newest first, with what the API shows', async () => {
  const list = await store().list();
  assert.deepEqual(
    list.map((m) => m.id),
    [...IDS].reverse(),
  );
  const m = list[2]!;
  assert.equal(m.jobId, 'job_aaaaaaaaaaaaaaaaaaaaaaaaaa');
  assert.equal(m.name, 'model 0');
  assert.equal(m.tokenizer.type, 'char');
  assert.ok(m.tokenizer.vocabSize > 10);
  assert.ok(m.parameters > 0);
  assert.equal(m.config.model.layers, 1);
  assert.ok('best' in m.metrics && 'final' in m.metrics);
});

test('ids that are not model ids are not found and never read', async () => {
  const s = store();
  for (const id of [
    '../secret',
    '../../etc/passwd',
    'mdl_../../x',
    'MDL_AAAAAAAAAAAAAAAAAAAAAAAAAA',
    '',
    '.',
  ]) {
    assert.equal(await s.get(id), undefined, id);
    assert.equal(await s.delete(id), false, id);
    await assert.rejects(
      s.generate(id, { maxTokens: 3 }),
      (err) => isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND'),
      id,
    );
  }
  assert.equal(await s.get('mdl_zzzzzzzzzzzzzzzzzzzzzzzzzz'), undefined);
  await assert.rejects(s.score('mdl_zzzzzzzzzzzzzzzzzzzzzzzzzz', 'hello', {}), (err) =>
    isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND'),
  );
});

test('a damaged model is RNNLM_ARTIFACT_CORRUPT; the listing skips one without meta.json', async () => {
  const damaged = 'mdl_dddddddddddddddddddddddddd';
  const noMeta = 'mdl_eeeeeeeeeeeeeeeeeeeeeeeeee';
  await cp(join(models, IDS[0]!), join(models, damaged), { recursive: true });
  await truncate(join(models, damaged, 'weights.bin'), 10);
  await mkdir(join(models, noMeta));
  try {
    const s = store();
    await assert.rejects(s.generate(damaged, { maxTokens: 3 }), (err) =>
      isRnnlmError(err, 'RNNLM_ARTIFACT_CORRUPT'),
    );
    await assert.rejects(s.get(noMeta), (err) => isRnnlmError(err, 'RNNLM_ARTIFACT_CORRUPT'));
    await assert.rejects(s.score(noMeta, 'hello', {}), (err) => isRnnlmError(err, 'RNNLM_ARTIFACT_CORRUPT'));
    // Listings read meta.json only: damaged weights show when the model is loaded.
    const listed = (await s.list()).map((m) => m.id);
    assert.ok(listed.includes(damaged));
    assert.ok(!(await s.list()).some((m) => m.id === noMeta));
  } finally {
    await rm(join(models, damaged), { recursive: true, force: true });
    await rm(join(models, noMeta), { recursive: true, force: true });
  }
});

test('generation clamps maxTokens to the configured limit and is reproducible by seed', async () => {
  const s = store();
  const a = await s.generate(IDS[0]!, { prompt: 'KING', maxTokens: 10_000, seed: 5 });
  assert.equal(a.tokens, 25);
  const b = await s.generate(IDS[0]!, { prompt: 'KING', maxTokens: 10_000, seed: 5 });
  assert.equal(b.text, a.text);
  const scored = await s.score(IDS[0]!, 'KING HENRY', { details: true });
  assert.equal(scored.tokenLogprobs?.length, 10);
});

test('the cache holds at most its size in models and frees the ones it evicts', async () => {
  const s = store(2);
  const tensors = async () => (await s.memory()).numTensors;
  await s.generate(IDS[0]!, { maxTokens: 1, seed: 1 });
  const one = await tensors();
  await s.generate(IDS[1]!, { maxTokens: 1, seed: 1 });
  const two = await tensors();
  const perModel = two - one;
  assert.ok(perModel > 0);
  assert.equal(s.cached, 2);
  await s.generate(IDS[2]!, { maxTokens: 1, seed: 1 });
  assert.equal(s.cached, 2);
  assert.equal(await tensors(), two, 'the evicted model was disposed');
  // A model in use when it is evicted is freed when its request ends, not during it.
  const chunks: string[] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started: () => void = () => undefined;
  const streaming = new Promise<void>((resolve) => (started = resolve));
  const long = s.generate(IDS[0]!, { maxTokens: 20, seed: 1 }, async (d) => {
    chunks.push(d);
    started();
    await gate;
  });
  await streaming;
  await s.generate(IDS[1]!, { maxTokens: 1, seed: 1 });
  await s.generate(IDS[2]!, { maxTokens: 1, seed: 1 });
  // IDS[0] is evicted now but its request has not ended: its weights are still there.
  assert.equal((await s.memory()).models, 3);
  assert.ok((await tensors()) >= two + perModel);
  release();
  const result = await long;
  assert.equal(result.tokens, 20);
  assert.equal(chunks.join(''), result.text);
  assert.equal(s.cached, 2);
  assert.equal(await tensors(), two);
  await s.generate(IDS[0]!, { maxTokens: 1, seed: 1 });
  assert.equal(await tensors(), two, 'loading one more model freed the one it evicted');
});

test('delete removes the directory and the cached model; deleting again is false', async () => {
  const id = 'mdl_ffffffffffffffffffffffffff';
  await cp(join(models, IDS[0]!), join(models, id), { recursive: true });
  const s = store();
  await s.generate(id, { maxTokens: 1, seed: 1 });
  assert.equal(await s.delete(id), true);
  assert.equal(s.cached, 0);
  assert.equal(await s.get(id), undefined);
  assert.equal(await s.delete(id), false);
  await assert.rejects(s.generate(id, { maxTokens: 1 }), (err) => isRnnlmError(err, 'RNNLM_MODEL_NOT_FOUND'));
});

test(
  'the inference thread runs the kernels with RNNLM_INFERENCE_THREADS threads, whatever the process had',
  { skip: loadNativeKernels() === null ? 'native/ is not built (npm run build:native)' : false },
  async () => {
    // oneDNN's OpenMP threads are set per JavaScript thread: the inference thread sets its own,
    // and the process's main thread keeps what it had.
    const kernels = loadNativeKernels();
    assert.ok(kernels !== null);
    const before = kernels.info().threads;
    kernels.setThreads(2);
    try {
      const s = store(2, { RNNLM_NATIVE_KERNELS: 'on', RNNLM_INFERENCE_THREADS: '1' });
      const info = await s.ready();
      assert.match(info.nativeKernels ?? '', /, 1 threads$/);
      const result = await s.generate(IDS[0] as string, { prompt: 'a', maxTokens: 3, seed: 1 });
      assert.equal(result.tokens, 3);
      assert.equal(kernels.info().threads, 2);
    } finally {
      kernels.setThreads(before);
    }
  },
);
