/**
 * src/main.ts as a process: it refuses to start without Redis (and says how to get one). Its
 * start-up lines and its shutdown on SIGTERM are in test/faults/shutdown.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { childEnv } from '../../../src/config.js';
import { testEnv } from '../queue/harness.js';

const MAIN = fileURLToPath(new URL('../../../src/main.ts', import.meta.url));

function start(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out.stderr += s));
  return { child, out };
}

test('without Redis it says so, how to start one, and exits non-zero', async (t) => {
  const env = await testEnv(t, { REDIS_URL: 'redis://127.0.0.1:1', RNNLM_ROLE: 'worker' });
  const { child, out } = start(childEnv(env.config));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 1);
  assert.match(out.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  assert.match(out.stderr, /redis-server --daemonize yes/);
  assert.match(out.stderr, /docker compose up -d redis/);
});
