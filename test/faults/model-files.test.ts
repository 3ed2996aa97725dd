/**
 * Items 4 and 6 of issue 14: a model whose files match their hashes but whose weights hold
 * NaN is refused with its own code (not a 500, not a 400 blaming the request's
 * `suppressIds`), and the answer for a damaged model names the file, not its path on the
 * server.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';

import { readModelDir, writeModelDir } from '../../src/storage/artifacts.js';
import {
  finished,
  jobServiceEnv,
  startMain,
  startWorkerProcess,
  tinyRequest,
  type TestEnv,
} from './harness.js';

/** A trained tiny model in the test's data directory, and an API process serving it. */
async function servedModel(
  t: TestContext,
): Promise<{ env: TestEnv; url: string; model: string; dir: string }> {
  const { env, jobs } = await jobServiceEnv(t);
  await startWorkerProcess(env);
  const { job } = await jobs.submit(tinyRequest());
  const done = await finished(jobs, job.id);
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  const model = String(done.modelId);
  const api = await startMain(env, 'api');
  assert.ok(api.url !== undefined, api.out.stdout);
  return { env, url: api.url, model, dir: join(env.dataDir, 'models', model) };
}

async function ask(url: string, model: string) {
  const score = await fetch(`${url}/score`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, text: 'To be, or not to be' }),
  });
  const generate = await fetch(`${url}/generate?model=${model}&maxTokens=5&seed=1`);
  return [
    { route: 'POST /score', status: score.status, text: await score.text() },
    { route: 'GET /generate', status: generate.status, text: await generate.text() },
  ];
}

test('4. NaN weights whose hashes match are a 409 RNNLM_MODEL_NONFINITE on /score and /generate', async (t) => {
  const { url, model, dir } = await servedModel(t);
  const artifacts = await readModelDir(dir);
  const first = artifacts.weights[0];
  assert.ok(first !== undefined);
  first.data[3] = Number.NaN;
  // Rewritten with fresh hashes: the files are intact, only their numbers are wrong.
  await writeModelDir(dir, artifacts, { overwrite: true });

  for (const answer of await ask(url, model)) {
    assert.equal(answer.status, 409, `${answer.route}: ${answer.text}`);
    const body = JSON.parse(answer.text) as { code: string; message: string };
    assert.equal(body.code, 'RNNLM_MODEL_NONFINITE', answer.route);
    assert.match(body.message, /NaN/, answer.route);
    assert.doesNotMatch(body.message, /suppressIds/, answer.route);
  }
});

test('6. a damaged model is a 409 that names the file, never a server path', async (t) => {
  const { env, url, model, dir } = await servedModel(t);
  const weights = join(dir, 'weights.bin');
  const bytes = await readFile(weights);
  bytes[0] = (bytes[0] ?? 0) ^ 0xff;
  await writeFile(weights, bytes);

  for (const answer of await ask(url, model)) {
    assert.equal(answer.status, 409, `${answer.route}: ${answer.text}`);
    const body = JSON.parse(answer.text) as { code: string; message: string };
    assert.equal(body.code, 'RNNLM_ARTIFACT_CORRUPT', answer.route);
    assert.match(body.message, /weights\.bin/, answer.route);
    assert.ok(!answer.text.includes(env.dataDir), `${answer.route}: ${answer.text}`);
    assert.doesNotMatch(answer.text, /\/tmp\/|\/models\//, answer.route);
  }
});
