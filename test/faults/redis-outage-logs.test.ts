/**
 * Item 8 of issue 14: an operator reading the logs during a Redis outage sees one warning
 * from each process when Redis goes away and one when it returns, not an error per readiness
 * probe or per reconnect attempt.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RedisServer } from '../helpers/redis-server.js';
import { jobServiceEnv, startMain, tinyRequest, waitFor, type Proc } from './harness.js';

const OUTAGE_MS = 6000;

/** The warnings and errors a process logged (pino JSON lines, level 40 and up). */
function loud(proc: Proc): { level: number; msg: string }[] {
  return proc.out.stdout.split('\n').flatMap((line) => {
    if (!line.startsWith('{')) return [];
    const entry = JSON.parse(line) as { level: number; msg: string };
    return entry.level >= 40 ? [{ level: entry.level, msg: entry.msg }] : [];
  });
}

test('8. Redis down for 6 s: each process logs one warning as it goes and one as it returns, and no errors', async (t) => {
  const redis = await RedisServer.start(t);
  const { env } = await jobServiceEnv(t, { REDIS_URL: redis.url });
  const info = { RNNLM_LOG_LEVEL: 'info' };
  const api = await startMain(env, 'api', info);
  const worker = await startMain(env, 'worker', info);
  const url = api.url;
  assert.ok(url !== undefined, api.out.stdout);
  const probe = async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) })).status;
  assert.equal(await probe(), 200);

  await redis.stop();
  const downAt = Date.now();
  // A load balancer probing readiness four times a second.
  while (Date.now() - downAt < OUTAGE_MS) {
    assert.equal(await probe(), 503);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await redis.restart();
  await waitFor(probe, (status) => status === 200, 15_000, '/readyz to pass again');
  // The worker's connections come back on their own schedule.
  await waitFor(
    () => Promise.resolve(loud(worker).length),
    (n) => n >= 2,
    15_000,
    'the worker to log the return',
  );
  // Both back at work, through Redis: the API takes a job and the worker picks it up. Whatever
  // either would log about the outage's end has been logged by then.
  const submitted = await fetch(`${url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(tinyRequest({ maxSteps: 2 })),
  });
  assert.equal(submitted.status, 202, await submitted.clone().text());
  const { id } = (await submitted.json()) as { id: string };
  await waitFor(
    async () => ((await (await fetch(`${url}/jobs/${id}`)).json()) as { status: string }).status,
    (status) => status !== 'queued',
    30_000,
    'the worker to pick up a job submitted after the outage',
  );

  for (const [name, proc] of [
    ['api', api],
    ['worker', worker],
  ] as const) {
    const lines = loud(proc);
    assert.deepEqual(
      lines.map((l) => l.level),
      [40, 40],
      `${name}: ${JSON.stringify(lines)}`,
    );
    assert.match(lines[0]?.msg ?? '', /Redis is unavailable/, name);
    assert.match(lines[1]?.msg ?? '', /Redis is available again/, name);
  }
});
