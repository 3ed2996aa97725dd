import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';

import type { TfjsExportMetadata } from '../../../src/export/index.js';
import { modelFromArtifacts } from '../../../src/ml/load-model.js';
import { readModelDir } from '../../../src/storage/artifacts.js';
import { assertMatchesOpenApi, useSharedTinyModel } from '../../helpers/app.js';
import { maxAbsDiff, referenceRun } from '../../helpers/model-dir.js';

// The shared model is trained by the service's own code path before the export code exists
// in the process, so these are exports of a model directory as earlier versions wrote them.
const withModel = useSharedTinyModel();
const KEY = 'export-test-key';

async function reference(modelsDir: string, id: string, prompt: string) {
  const { model, tokenizer } = modelFromArtifacts(await readModelDir(join(modelsDir, id)));
  try {
    const ids = tokenizer.encode(prompt);
    const zeros = Array.from(
      { length: model.config.layers * (model.config.cell === 'lstm' ? 2 : 1) },
      () => new Float32Array(model.config.hiddenSize),
    );
    return { ids, hidden: model.config.hiddenSize, zeros, ...referenceRun(model, ids, zeros) };
  } finally {
    model.dispose();
  }
}

test('GET /models/{id}/export?format=onnx answers a .onnx file that onnxruntime runs with the served model’s logits', async (t) => {
  const { app, id, modelsDir } = await withModel(t);
  const res = await app.inject({ method: 'GET', url: `/models/${id}/export?format=onnx` });
  assert.equal(res.statusCode, 200);
  assertMatchesOpenApi(res, 'GET /models/{id}/export');
  assert.match(String(res.headers['content-disposition']), new RegExp(`${id}\\.onnx`));
  const session = await ort.InferenceSession.create(res.rawPayload);
  t.after(() => session.release());
  const ref = await reference(modelsDir, id, 'ROMEO:');
  const feeds: Record<string, ort.Tensor> = {
    tokens: new ort.Tensor('int64', BigInt64Array.from(ref.ids.map(BigInt)), [ref.ids.length, 1]),
  };
  ref.zeros.forEach((z, i) => {
    feeds[session.inputNames[i + 1] as string] = new ort.Tensor('float32', z, [1, 1, ref.hidden]);
  });
  const out = await session.run(feeds);
  assert.ok(maxAbsDiff(out.logits?.data as Float32Array, ref.logits) < 1e-4);
});

test('tf.loadLayersModel loads GET /models/{id}/export?format=tfjs over HTTP with the API key and matches the served model', async (t) => {
  const { app, id, modelsDir } = await withModel(t, { env: { API_KEYS: KEY } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const url = `${base}/models/${id}/export?format=tfjs`;
  await assert.rejects(tf.loadLayersModel(url), /401/);
  const model = await tf.loadLayersModel(url, {
    requestInit: { headers: { authorization: `Bearer ${KEY}` } },
  });
  t.after(() => model.dispose());
  const meta = (model.getUserDefinedMetadata() as { rnnlm: TfjsExportMetadata }).rnnlm;
  assert.equal(meta.tokenizer.json.type, 'char');
  const ref = await reference(modelsDir, id, 'ROMEO:');
  const logits = tf.tidy(() => {
    const out = model.predict([
      tf.tensor2d([ref.ids], [1, ref.ids.length], 'int32'),
      ...ref.zeros.map((z) => tf.tensor2d(z, [1, ref.hidden])),
    ]) as tf.Tensor[];
    return (out[0] as tf.Tensor).dataSync() as Float32Array;
  });
  assert.ok(maxAbsDiff(logits, ref.logits) < 1e-4);

  const shard = await app.inject({
    method: 'GET',
    url: `/models/${id}/export/tfjs/model.json`,
    headers: { authorization: `Bearer ${KEY}` },
  });
  assert.equal(shard.statusCode, 200);
  assertMatchesOpenApi(shard, 'GET /models/{id}/export/tfjs/{file}');
});

test('an export of an unknown model is a 404 and an unknown format a 400', async (t) => {
  const { app, id } = await withModel(t);
  const missing = await app.inject({
    method: 'GET',
    url: '/models/mdl_00000000000000000000000000/export?format=onnx',
  });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json<{ code: string }>().code, 'RNNLM_MODEL_NOT_FOUND');
  const bad = await app.inject({ method: 'GET', url: `/models/${id}/export?format=keras` });
  assert.equal(bad.statusCode, 400);
  assertMatchesOpenApi(bad, 'GET /models/{id}/export');
});
