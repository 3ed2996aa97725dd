/**
 * Fault suite, item 14: sustained load from autocannon against a listening server. Over the
 * limits the API must shed load with 429 (rate limit) and 503 (in-flight cap, overload guard)
 * and never fail a socket, time out, or grow without bound.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import autocannon from 'autocannon';

import { useSharedTinyModel } from '../helpers/app.js';
import { tinyRequest } from '../integration/queue/harness.js';

const withModel = useSharedTinyModel();

const CONNECTIONS = 32;
const DURATION_S = 20;
const ALLOWED = new Set(['200', '429', '503']);
/**
 * The memory bounds. During the run V8 grows its heap between collections (over 4000 req/s of
 * garbage: request objects, autocannon's own, which runs in this process), so RSS rises by
 * 140-270 MB on the 2-core dev machine: peak RSS may rise by at most 512 MB. What the run
 * leaves behind is measured after a full GC: the live heap must come back within 32 MB of its
 * level after the warm-up. Everything the load can hold is bounded (one cached model of a few
 * kB, 4 generations of 16 tokens in flight, 64 sockets), so more would be a leak: about 400
 * bytes per request over the run's ~8·10⁴ requests.
 */
const RSS_GROWTH_BOUND_BYTES = 512 * 1024 * 1024;
const HEAP_LEFT_BOUND_BYTES = 32 * 1024 * 1024;

// A full collection on demand, to tell garbage not yet collected from memory still held.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function summary(name: string, r: autocannon.Result): string {
  const codes = Object.entries(r.statusCodeStats ?? {})
    .map(([code, s]) => `${code}: ${s.count ?? 0}`)
    .join(', ');
  return (
    `${name}: ${Math.round(r.requests.average)} req/s, ${r.requests.total} requests, ` +
    `latency p50 ${r.latency.p50} ms p99 ${r.latency.p99} ms max ${r.latency.max} ms, ` +
    `status {${codes}}, errors ${r.errors}, timeouts ${r.timeouts}, resets ${r.resets}`
  );
}

test('14. autocannon, 32 connections for 20 s on /generate and GET /jobs/{id}: only 200/429/503, no socket errors or timeouts, RSS bounded', async (t) => {
  const { app, jobs, id } = await withModel(t, {
    env: {
      // A limit the run goes over, so 429s come along with 200s; the overload guard on, as deployed.
      RNNLM_RATE_LIMIT_MAX: '2000',
      RNNLM_RATE_LIMIT_WINDOW_MS: '5000',
      RNNLM_MAX_INFLIGHT_GENERATIONS: '4',
      RNNLM_MAX_EVENT_LOOP_DELAY_MS: '1000',
    },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const { job } = await jobs.submit(tinyRequest());
  const generatePath = `/generate?model=${id}&prompt=ROMEO%3A&maxTokens=16&seed=1`;

  // Warm-up: the model loads into the cache, the code paths are compiled.
  for (let i = 0; i < 20; i++) {
    assert.equal((await fetch(`${base}${generatePath}`)).status, 200);
    assert.equal((await fetch(`${base}/jobs/${job.id}`)).status, 200);
  }
  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  const rssBefore = process.memoryUsage().rss;
  let rssMax = rssBefore;
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
  }, 200);
  t.after(() => clearInterval(sampler));

  const run = (path: string) =>
    autocannon({ url: `${base}${path}`, connections: CONNECTIONS, duration: DURATION_S, timeout: 10 });
  const [generate, getJob] = await Promise.all([run(generatePath), run(`/jobs/${job.id}`)]);
  clearInterval(sampler);
  rssMax = Math.max(rssMax, process.memoryUsage().rss);

  const growth = rssMax - rssBefore;
  // Sockets close and their last callbacks run before what they held is garbage.
  await new Promise((resolve) => setTimeout(resolve, 500));
  collectGarbage();
  const heapLeft = process.memoryUsage().heapUsed - heapBefore;
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MB`;
  t.diagnostic(summary('GET /generate', generate));
  t.diagnostic(summary('GET /jobs/{id}', getJob));
  t.diagnostic(
    `RSS ${mb(rssBefore)} before, ${mb(rssMax)} at most: +${mb(growth)} (bound +${mb(RSS_GROWTH_BOUND_BYTES)})`,
  );
  t.diagnostic(
    `live heap after a full GC: ${mb(heapLeft)} more than before (bound ${mb(HEAP_LEFT_BOUND_BYTES)})`,
  );

  for (const [name, r] of [
    ['GET /generate', generate],
    ['GET /jobs/{id}', getJob],
  ] as const) {
    assert.equal(r.errors, 0, `${name}: socket errors`);
    assert.equal(r.timeouts, 0, `${name}: timeouts`);
    assert.equal(r.resets, 0, `${name}: resets`);
    const codes = Object.keys(r.statusCodeStats ?? {});
    assert.ok(
      codes.every((c) => ALLOWED.has(c)),
      `${name}: only 200/429/503, got ${codes.join(', ')}`,
    );
    assert.ok((r.statusCodeStats?.['200']?.count ?? 0) > 0, `${name}: some requests succeeded`);
  }
  assert.ok(
    (generate.statusCodeStats?.['429']?.count ?? 0) + (generate.statusCodeStats?.['503']?.count ?? 0) > 0,
    'the load went over the limits and was shed',
  );
  assert.ok(growth < RSS_GROWTH_BOUND_BYTES, `RSS grew by ${mb(growth)}`);
  assert.ok(heapLeft < HEAP_LEFT_BOUND_BYTES, `the run left ${mb(heapLeft)} on the heap`);
  // And the server is fine afterwards.
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
});
