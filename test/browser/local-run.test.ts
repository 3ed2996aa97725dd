/**
 * "Run in this browser" on the dashboard's model page, in headless Chromium against a real
 * listening API with API keys on: the page loads the model's TensorFlow.js export with the
 * key and runs the engine's own generation loop on it. For every cell type and tokenizer, its
 * greedy text and its seeded sampled text equal the server's for the same prompt and settings.
 * The models have random weights (no training): their logits are far from ties, so float
 * differences between the page's tfjs and the server's engine cannot flip a token.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';

import { newModelId } from '../../src/ids.js';
import { initBackend } from '../../src/ml/backend.js';
import { build } from '../helpers/app.js';
import { launchChromium } from '../helpers/browser.js';
import { writeTestModelDir } from '../helpers/model-dir.js';
import { ensureDashboardBuilt } from '../helpers/web-build.js';

const KEY = 'local-run-test-key';
const CELLS = ['lstm', 'gru', 'rnn'] as const;
const TOKENIZERS = ['char', 'word', 'bpe'] as const;
/** Greedy, and seeded sampling at a temperature with top-k. */
const SETTINGS = [{ temperature: 0 }, { temperature: 0.9, topK: 20, seed: 1234 }] as const;

before(async () => {
  await ensureDashboardBuilt();
  // The fixtures build their models in this process too.
  await initBackend('wasm');
});

test('the page’s greedy and seeded text equal the server’s for every cell and tokenizer', async (t) => {
  const { app, modelsDir } = await build(t, { env: { API_KEYS: KEY } });
  const models: { name: string; id: string }[] = [];
  for (const cell of CELLS) {
    for (const tokenizer of TOKENIZERS) {
      const id = newModelId();
      await writeTestModelDir(t, { cell, tokenizer, layers: 2, dir: join(modelsDir, id) });
      models.push({ name: `${cell}/${tokenizer}`, id });
    }
  }
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const prompt = 'ROMEO:\nWhat';
  const maxTokens = 30;

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
  for (const { name, id } of models) {
    await page.goto(`${base}/#/models/${id}`);
    if (first) {
      // The page asks for the key once; the export is then fetched with it.
      await page.locator('#api-key-dialog').waitFor({ state: 'visible' });
      await page.fill('#api-key-input', KEY);
      await page.click('#api-key-dialog button[value="save"]');
      first = false;
    }
    // A new hash renders the model's view after its GET: wait for it, not the last model's form.
    await page.locator('.crumbs .mono', { hasText: id }).waitFor();
    const form = page.locator('#local-form');
    await form.locator('[name="prompt"]').fill(prompt);
    await form.locator('[name="maxTokens"]').fill(String(maxTokens));
    // The cpu backend: float32 throughout, as on the server (WebGL may compute in lower precision).
    await form.locator('[name="backend"]').selectOption('cpu');
    for (const settings of SETTINGS) {
      const server = await app.inject({
        method: 'POST',
        url: '/generate',
        headers: { authorization: `Bearer ${KEY}` },
        payload: { model: id, prompt, maxTokens, ...settings },
      });
      assert.equal(server.statusCode, 200, server.body);
      const want = server.json<{ text: string; finishReason: string }>();

      for (const field of ['temperature', 'topK', 'seed'] as const) {
        const value = (settings as Partial<Record<typeof field, number>>)[field];
        await form.locator(`[name="${field}"]`).fill(value === undefined ? '' : String(value));
      }
      await form.locator('button[type="submit"]').click();
      const output = page.locator('#local-generated[data-done]');
      await output.waitFor();
      const label = `${name}, ${JSON.stringify(settings)}`;
      assert.equal(await output.getAttribute('data-text'), want.text, `${label}: the page's text`);
      assert.equal(await output.getAttribute('data-done'), want.finishReason, label);
      assert.match((await page.locator('#local-info').textContent()) ?? '', /on tfjs cpu in this browser/);
    }
  }
  assert.equal(exports.length, 2 * models.length, 'each export was fetched (model.json and its shard)');
  for (const auth of exports) assert.equal(auth, `Bearer ${KEY}`);
  assert.deepEqual(problems, []);
});
