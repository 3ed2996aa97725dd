/**
 * SIGTERM to an API process with 32 generations streaming: `/readyz` answers 503 at once, new
 * requests a 503 `RNNLM_SHUTTING_DOWN` with `Retry-After`, the port closes after the drain
 * delay while the streams go on, and every stream that started ends with its `done` event
 * before the process exits, within RNNLM_SHUTDOWN_TIMEOUT_MS.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';

import { publishTinyModel } from '../helpers/app.js';
import { jobServiceEnv, startMain, streamGeneration, waitFor, type StreamedGeneration } from './harness.js';

const STREAMS = 32;
const TOKENS = 4000;
const SHUTDOWN_TIMEOUT_MS = 90_000;
const DRAIN_DELAY_MS = 2000;

/** A request on a new connection: its status, `Retry-After` and error code; status 0 when refused. */
async function probe(url: string): Promise<{ status: number; retryAfter: string | null; code?: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000), headers: { connection: 'close' } });
    const { code } = (await res.json()) as { code?: string };
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      ...(code === undefined ? {} : { code }),
    };
  } catch {
    return { status: 0, retryAfter: null };
  }
}

test('SIGTERM with 32 generations streaming: /readyz and new requests are 503 with Retry-After, the port closes, every stream ends with its done event', async (t) => {
  const { env } = await jobServiceEnv(t);
  // Big enough that a batched step takes milliseconds: the streams outlast the drain delay.
  const model = await publishTinyModel(join(env.dataDir, 'models'), 'drain', {
    hiddenSize: 256,
    embeddingSize: 64,
  });
  const api = await startMain(env, 'api', {
    RNNLM_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    RNNLM_DRAIN_DELAY_MS: String(DRAIN_DELAY_MS),
    RNNLM_MAX_GENERATE_TOKENS: String(TOKENS),
    RNNLM_RATE_LIMIT_MAX: '1000000',
    // 32 streams on a busy test machine can lag the event loop past the overload guard, whose
    // 503 would then come before the drain's.
    RNNLM_MAX_EVENT_LOOP_DELAY_MS: '0',
  });
  const url = api.url;
  assert.ok(url !== undefined, api.out.stdout);
  assert.equal((await probe(`${url}/readyz`)).status, 200);

  let started = 0;
  const streams: Promise<StreamedGeneration>[] = [];
  for (let i = 0; i < STREAMS; i++) streams.push(streamGeneration(url, model, TOKENS, () => started++));
  await waitFor(
    () => Promise.resolve(started),
    (n) => n === STREAMS,
    60_000,
    'every stream to start',
  );
  const ended: StreamedGeneration[] = [];
  for (const s of streams) void s.then((g) => ended.push(g));

  const termAt = Date.now();
  api.child.kill('SIGTERM');
  // While it drains, it still listens: the probe is refused by the API, not by the socket.
  const ready = await waitFor(
    () => probe(`${url}/readyz`),
    (r) => r.status !== 200,
    DRAIN_DELAY_MS,
    '/readyz to go 503',
  );
  const [generate, alive] = await Promise.all([
    probe(`${url}/generate?model=${model}&maxTokens=5`),
    probe(`${url}/healthz`),
  ]);
  assert.ok(Date.now() - termAt < DRAIN_DELAY_MS, 'the probes ran within the drain delay');
  assert.deepEqual(ready, { status: 503, retryAfter: '1', code: 'RNNLM_SHUTTING_DOWN' });
  assert.deepEqual(generate, { status: 503, retryAfter: '1', code: 'RNNLM_SHUTTING_DOWN' });
  assert.equal(alive.status, 200, 'liveness still answers while it drains');

  // After the drain delay the port closes, while streams still run.
  await waitFor(
    () => probe(`${url}/healthz`),
    (r) => r.status === 0,
    DRAIN_DELAY_MS + 5000,
    'the port to close',
  );
  const closedAt = Date.now();
  const openWhenClosed = STREAMS - ended.filter((g) => g.endedAt <= closedAt).length;

  const exit = await api.exited;
  const exitedMs = Date.now() - termAt;
  assert.deepEqual(exit, { code: 0, signal: null }, api.out.stderr);
  assert.ok(exitedMs < SHUTDOWN_TIMEOUT_MS, `exited ${exitedMs} ms after SIGTERM`);

  const results = await Promise.all(streams);
  const cut = results.filter((g) => g.status !== 200 || !g.done);
  assert.deepEqual(cut, [], 'every stream that started ended with its done event');
  const afterTerm = results.filter((g) => g.endedAt > termAt).length;
  assert.ok(openWhenClosed > 0, 'streams were still open when the port closed');
  t.diagnostic(
    `${STREAMS} streams of ${TOKENS} tokens: ${afterTerm} ended after SIGTERM, ${openWhenClosed} were open when ` +
      `the port closed (${closedAt - termAt} ms after it); the process exited after ${exitedMs} ms; 0 cut`,
  );
});
