/**
 * "Run in this browser" on the dashboard's model page, in headless Chromium against a real
 * listening API with API keys on: the page loads the model's TensorFlow.js export with the
 * key and generates client-side; greedy text equals the server's greedy text for the same
 * prompt, for an LSTM (Keras LSTM layers, whole prompt in one call) and a GRU (spelled-out
 * cell, one token per call).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { initBackend } from '../../src/ml/backend.js';
import { trainFromText } from '../../src/ml/training.js';
import { newModelId } from '../../src/ids.js';
import { writeModelDir } from '../../src/storage/artifacts.js';
import { build } from '../helpers/app.js';
import { launchChromium } from '../helpers/browser.js';
import { ensureDashboardBuilt } from '../helpers/web-build.js';
import { SHAKESPEARE } from '../helpers/ml.js';

const KEY = 'local-run-test-key';

before(ensureDashboardBuilt);

/** Trains a small model far enough that its greedy text is not a near-tie coin flip, and publishes it. */
async function publish(modelsDir: string, cell: 'lstm' | 'gru'): Promise<string> {
  const backend = await initBackend('wasm');
  const { artifacts, result } = await trainFromText({
    corpus: SHAKESPEARE.slice(0, 12_000),
    validationFraction: 0.1,
    config: {
      model: { cell, layers: 2, hiddenSize: 24, embeddingSize: 12 },
      training: { batchSize: 8, seqLength: 16, maxSteps: 60, learningRate: 0.01, seed: 5 },
    },
    backend,
  });
  result.model.dispose();
  const id = newModelId();
  await writeModelDir(join(modelsDir, id), {
    ...artifacts,
    modelConfig: { ...artifacts.modelConfig },
    meta: { ...artifacts.meta, id, jobId: null, name: `browser-${cell}` },
  });
  return id;
}

test('greedy generation in the page equals the server’s greedy text for the same prompt', async (t) => {
  const { app, modelsDir } = await build(t, { env: { API_KEYS: KEY } });
  const models = { lstm: await publish(modelsDir, 'lstm'), gru: await publish(modelsDir, 'gru') };
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const prompt = 'ROMEO:\nWhat';
  const maxTokens = 60;

  const context = await launchChromium(t);
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(60_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/status of 401\b/.test(msg.text()))
      problems.push(`console: ${msg.text()}`);
  });
  const exports: (string | undefined)[] = [];
  page.on('request', (req) => {
    if (req.url().includes('/export')) exports.push(req.headers().authorization);
  });

  let first = true;
  for (const [cell, id] of Object.entries(models)) {
    const server = await app.inject({
      method: 'POST',
      url: '/generate',
      headers: { authorization: `Bearer ${KEY}` },
      payload: { model: id, prompt, maxTokens, temperature: 0 },
    });
    assert.equal(server.statusCode, 200, server.body);
    const serverText = server.json<{ text: string }>().text;
    assert.ok(serverText.length > 0);

    await page.goto(`${base}/#/models/${id}`);
    if (first) {
      // The page asks for the key once; the export is then fetched with it.
      await page.locator('#api-key-dialog').waitFor({ state: 'visible' });
      await page.fill('#api-key-input', KEY);
      await page.click('#api-key-dialog button[value="save"]');
      first = false;
    }
    const form = page.locator('#local-form');
    await form.waitFor();
    await form.locator('[name="prompt"]').fill(prompt);
    await form.locator('[name="temperature"]').fill('0');
    await form.locator('[name="maxTokens"]').fill(String(maxTokens));
    // The cpu backend: float32 throughout, as on the server (WebGL may compute in lower precision).
    await form.locator('[name="backend"]').selectOption('cpu');
    await form.locator('button[type="submit"]').click();
    const output = page.locator('#local-generated[data-done]');
    await output.waitFor();
    assert.equal(await output.getAttribute('data-text'), serverText, `${cell}: the page's greedy text`);
    assert.match((await page.locator('#local-info').textContent()) ?? '', /on tfjs cpu in this browser/);
  }
  assert.ok(exports.length >= 2, 'the export was fetched');
  for (const auth of exports) assert.equal(auth, `Bearer ${KEY}`);
  assert.deepEqual(problems, []);
});
