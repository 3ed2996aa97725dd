/**
 * Item 13: a kill while a model is being published, at the moment its temporary directory
 * appears in models/. Whatever was being written never shows as a model: the model directory
 * is absent or complete and hash-verified, the API answers 404 for an absent one (never a
 * 500) and lists nothing half-made, and the job ends with its model published once and the
 * dead writer's leftovers swept away.
 */
import assert from 'node:assert/strict';
import { existsSync, watch } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { modelIdFor } from '../../src/worker/train.processor.js';
import {
  alive,
  eventsUntil,
  finished,
  jobServiceEnv,
  modelsOnDisk,
  startMain,
  startWorkerProcess,
  tinyRequest,
  waitFor,
} from './harness.js';

async function setUp(t: TestContext) {
  const { env, jobs } = await jobServiceEnv(t, { RNNLM_JOB_ATTEMPTS: '2' });
  const api = await startMain(env, 'api');
  assert.ok(api.url !== undefined, api.out.stdout);
  const worker = await startWorkerProcess(env);

  // Big enough weights (about 13 MB) that writing and fsyncing them takes a while.
  const request = tinyRequest({ maxSteps: 2, batchSize: 2, seqLength: 4, checkpointEvery: 1000 });
  request.model = {
    cell: 'lstm',
    layers: 2,
    hiddenSize: 512,
    embeddingSize: 64,
    dropout: 0,
    tieWeights: false,
  };
  const { job } = await jobs.submit(request);
  return {
    env,
    jobs,
    api: api.url,
    worker,
    job,
    modelId: modelIdFor(job.id),
    modelsDir: join(env.dataDir, 'models'),
  };
}

/**
 * Calls `kill` with the writer's pid as soon as the model's temporary directory appears (it
 * is named after its writer: `.<modelId>.tmp-<pid>-<random>`); resolves with its name.
 */
async function killWhenPublishing(modelsDir: string, modelId: string, kill: (writer: number) => void) {
  const prefix = `.${modelId}.tmp-`;
  let seen: { writer: number; tmp: string } | undefined;
  const watcher = watch(modelsDir, (_event, name) => {
    if (seen !== undefined || name === null || !name.startsWith(prefix)) return;
    const writer = Number(name.slice(prefix.length).split('-')[0]);
    kill(writer);
    seen = { writer, tmp: name };
  });
  try {
    await waitFor(
      () => Promise.resolve(seen),
      (s) => s !== undefined,
      60_000,
      'the model to be published',
    );
  } finally {
    watcher.close();
  }
  return seen!;
}

async function generateStatus(api: string, modelId: string): Promise<number> {
  const res = await fetch(`${api}/generate?model=${modelId}&prompt=a&maxTokens=5`);
  await res.arrayBuffer();
  return res.status;
}

async function listed(api: string): Promise<string[]> {
  const res = await fetch(`${api}/models`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { items: { id: string }[] }).items.map((m) => m.id);
}

test('13. a trainer killed while publishing its model leaves no partial model: GET /generate 404, never 500; the retry publishes it once', async (t) => {
  const { jobs, api, job, modelId, modelsDir } = await setUp(t);
  const { writer, tmp } = await killWhenPublishing(modelsDir, modelId, (pid) => process.kill(pid, 'SIGKILL'));
  await waitFor(
    () => Promise.resolve(alive(writer)),
    (a) => !a,
    5000,
    'the trainer to die',
  );

  // Killed mid-publish: its temporary directory is left, the model is not there.
  assert.ok(existsSync(join(modelsDir, tmp)), 'the kill landed before the rename');
  assert.deepEqual(await modelsOnDisk(modelsDir), { models: [], other: [tmp] });
  assert.equal(await generateStatus(api, modelId), 404);
  assert.deepEqual(await listed(api), []);

  // The retry trains again and publishes the complete model once; the leftovers are gone.
  await eventsUntil(jobs, job.id, (e) => e.type === 'log' && /retrying/.test(String(e.data.message)), 15_000);
  const done = await finished(jobs, job.id, 90_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.modelId, modelId);
  assert.deepEqual(await modelsOnDisk(modelsDir), { models: [modelId], other: [] });
  assert.equal(await generateStatus(api, modelId), 200);
});

test('13. a worker process killed while its trainer publishes: the model is absent or complete, never a 500; the next worker finishes the job once', async (t) => {
  const { env, jobs, api, job, modelId, modelsDir, worker } = await setUp(t);
  const { writer } = await killWhenPublishing(modelsDir, modelId, () => worker.child.kill('SIGKILL'));
  // The orphaned trainer stops when it notices (mid-write or just after the rename).
  await waitFor(
    () => Promise.resolve(alive(writer)),
    (a) => !a,
    10_000,
    'the orphaned trainer to exit',
  );

  const { models } = await modelsOnDisk(modelsDir);
  const status = await generateStatus(api, modelId);
  if (models.length === 0) {
    assert.equal(status, 404);
    assert.deepEqual(await listed(api), []);
  } else {
    assert.deepEqual(models, [modelId]);
    assert.equal(status, 200);
  }

  await startWorkerProcess(env);
  const done = await finished(jobs, job.id, 90_000);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.modelId, modelId);
  assert.deepEqual(await modelsOnDisk(modelsDir), { models: [modelId], other: [] });
  assert.deepEqual(await listed(api), [modelId]);
  assert.equal(await generateStatus(api, modelId), 200);
});
