/**
 * The queue board (Bull Board) at /admin/queues against real Redis: guarded by the API key
 * (page, assets and JSON API alike, with the API's own 401 body), its page and every asset it
 * loads served from this server under a Content-Security-Policy that allows no other origin,
 * its JSON API listing the training queue and its jobs, and every change refused (read-only).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { QUEUE_BOARD_CSP } from '../../../src/api/routes/queue-board.js';
import { TRAINING_QUEUE } from '../../../src/queue/training-queue.js';
import { assertMatchesOpenApi, build } from '../../helpers/app.js';
import { tinyRequest } from '../queue/harness.js';

const KEY = 'board-key-0123456789';
const AUTH = { authorization: `Bearer ${KEY}` };

interface BoardQueue {
  name: string;
  readOnlyMode: boolean;
  counts: Record<string, number>;
  jobs: { id: string; name: string }[];
}

test('with API_KEYS the board answers 401 without a valid key, on its page, assets and API alike', async (t) => {
  const { app } = await build(t, { env: { API_KEYS: KEY } });
  const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: AUTH });
  assert.equal(page.statusCode, 200);
  const script = /src="(static\/js\/[^"]+\.js)"/.exec(page.body)?.[1];
  assert.ok(script !== undefined, page.body);
  for (const url of [
    '/admin/queues',
    '/admin/queues/',
    `/admin/queues/queue/${TRAINING_QUEUE}`,
    `/admin/queues/${script}`,
    '/admin/queues/api/queues',
    `/admin/queues/api/queues/${TRAINING_QUEUE}/pause`,
  ]) {
    for (const headers of [{}, { authorization: 'Bearer not-the-key' }]) {
      const method = url.endsWith('/pause') ? 'PUT' : 'GET';
      const res = await app.inject({ method, url, headers });
      assert.equal(res.statusCode, 401, `${method} ${url}: ${res.body}`);
      assert.equal(res.headers['www-authenticate'], 'Bearer', url);
      // The API's error body, not the board's.
      assert.equal(res.json<{ code: string }>().code, 'RNNLM_UNAUTHORIZED', url);
      if (url === '/admin/queues') assertMatchesOpenApi(res, 'GET /admin/queues');
    }
  }
});

test('the board page and every asset it loads come from this server, under a CSP that allows no other origin', async (t) => {
  const { app } = await build(t, { env: { API_KEYS: KEY } });
  const page = await app.inject({ method: 'GET', url: '/admin/queues', headers: AUTH });
  assert.equal(page.statusCode, 200);
  assertMatchesOpenApi(page, 'GET /admin/queues');
  assert.match(String(page.headers['content-type']), /^text\/html/);
  assert.match(page.body, /<base href="\/admin\/queues\/"/);
  assert.match(page.body, /<title>rnnlm queues<\/title>/);
  const csp = String(page.headers['content-security-policy']);
  assert.equal(csp, QUEUE_BOARD_CSP);
  // Every directive that lists sources lists this server's own at most (and data: / inline).
  for (const directive of csp.split(';')) {
    const sources = directive.trim().split(/\s+/).slice(1);
    for (const source of sources) {
      assert.match(source, /^('self'|'none'|'unsafe-inline'|data:)$/, `${directive}: ${source}`);
    }
  }
  assert.match(csp, /(^|;)script-src 'self'(;|$)/);

  const assets = [...page.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  const local = assets.filter((a) => !/^(https?:)?\/\//.test(a));
  // The scripts, the stylesheet and the icons; the only other link is a font stylesheet the
  // CSP refuses (style-src has no other origin), so the page falls back to system fonts.
  assert.ok(local.filter((a) => a.endsWith('.js')).length >= 2, assets.join(' '));
  assert.ok(
    local.some((a) => a.endsWith('.css')),
    assets.join(' '),
  );
  assert.deepEqual(
    assets.filter((a) => !local.includes(a)).map((a) => new URL(a).host),
    ['fonts.googleapis.com'],
  );
  for (const asset of local) {
    const url = new URL(asset, 'http://localhost/admin/queues/').pathname;
    const res = await app.inject({ method: 'GET', url, headers: AUTH });
    assert.equal(res.statusCode, 200, `${url}: ${res.statusCode}`);
    assert.ok(res.rawPayload.length > 0, url);
  }
  // The page the board's own links lead to is the same page (the app routes in the browser).
  const queuePage = await app.inject({
    method: 'GET',
    url: `/admin/queues/queue/${TRAINING_QUEUE}`,
    headers: AUTH,
  });
  assert.equal(queuePage.statusCode, 200);
  assert.equal(queuePage.headers['content-security-policy'], QUEUE_BOARD_CSP);
});

test('the board API lists the training queue and its jobs, and refuses every change', async (t) => {
  const { app, jobs } = await build(t);
  const { job } = await jobs.submit(tinyRequest());
  const res = await app.inject({
    method: 'GET',
    url: `/admin/queues/api/queues?activeQueue=${TRAINING_QUEUE}&status=waiting&page=1`,
  });
  assert.equal(res.statusCode, 200, res.body);
  const { queues } = res.json<{ queues: BoardQueue[] }>();
  assert.deepEqual(
    queues.map((q) => q.name),
    [TRAINING_QUEUE],
  );
  const [queue] = queues as [BoardQueue];
  assert.equal(queue.readOnlyMode, true);
  assert.equal(queue.counts.waiting, 1);
  assert.deepEqual(
    queue.jobs.map((j) => j.id),
    [job.id],
  );

  const board = `/admin/queues/api/queues/${TRAINING_QUEUE}`;
  for (const [method, url, payload] of [
    ['PUT', `${board}/pause`, undefined],
    ['PUT', `${board}/empty`, undefined],
    ['PUT', `${board}/obliterate`, undefined],
    ['PUT', `${board}/clean/waiting`, undefined],
    ['PUT', `${board}/promote`, undefined],
    ['POST', `${board}/add`, { name: 'train', data: {} }],
    ['PUT', `${board}/${job.id}/clean`, undefined],
    ['PUT', `${board}/${job.id}/promote`, undefined],
    ['PATCH', `${board}/${job.id}/update-data`, { jobData: {} }],
  ] as const) {
    const refused = await app.inject({ method, url, ...(payload === undefined ? {} : { payload }) });
    assert.equal(refused.statusCode, 405, `${method} ${url}: ${refused.body}`);
  }
  // "Pause all" passes over read-only queues.
  await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/pause' });
  // Nothing changed: the job still waits, with its data, in a running queue of one job.
  assert.equal(await jobs.queue.isPaused(), false);
  assert.equal(await jobs.queue.getJobState(job.id), 'waiting');
  assert.equal(await jobs.queue.count(), 1);
  assert.equal((await jobs.queue.getJob(job.id))?.data.corpus.sha256.length, 64);
  assert.equal((await jobs.get(job.id))?.status, 'queued');
});
