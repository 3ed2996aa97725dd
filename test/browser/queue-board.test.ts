/**
 * The queue board in a real headless Chromium against a listening API with API keys on (the
 * key added to every request, as the proxy in front of a browser would): the page renders the
 * training queue and a waiting job under its Content-Security-Policy, nothing on it fails, and
 * the only thing the policy refuses is the board's Google Fonts stylesheet, so the browser
 * fetches nothing from another origin.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TRAINING_QUEUE } from '../../src/queue/training-queue.js';
import { build } from '../helpers/app.js';
import { launchChromium } from '../helpers/browser.js';
import { tinyRequest } from '../integration/queue/harness.js';

const KEY = 'board-browser-key';

test('the queue board renders the training queue and its waiting job, and fetches nothing from elsewhere', async (t) => {
  const { app, jobs } = await build(t, { env: { API_KEYS: KEY } });
  const { job } = await jobs.submit(tinyRequest());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });

  const context = await launchChromium(t, { extraHTTPHeaders: { authorization: `Bearer ${KEY}` } });

  const page = await context.newPage();
  const problems: string[] = [];
  const refused: string[] = [];
  const foreign: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const text = message.text();
    if (/Content Security Policy/.test(text)) refused.push(text);
    else problems.push(`console: ${text}`);
  });
  page.on('response', (response) => {
    if (!response.url().startsWith(base)) foreign.push(response.url());
    else if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });

  await page.goto(`${base}/admin/queues`);
  await page.getByText('rnnlm queues').first().waitFor();
  await page.getByRole('link', { name: TRAINING_QUEUE }).first().waitFor();

  await page.goto(`${base}/admin/queues/queue/${TRAINING_QUEUE}?status=waiting`);
  await page.getByText(job.id).first().waitFor();

  assert.deepEqual(problems, []);
  assert.deepEqual(foreign, []);
  assert.ok(refused.length > 0, 'the Google Fonts stylesheet was not refused');
  for (const text of refused) assert.match(text, /fonts\.googleapis\.com/, text);
});
