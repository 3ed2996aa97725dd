/**
 * `npm start` with no REDIS_URL and nothing answering on the local port runs a Redis of its
 * own: it says so, stops it on shutdown, and a later start finds the queued jobs again. With
 * REDIS_URL set it never starts one; without a redis-server binary it says how to get one.
 * Every test uses a private port (RNNLM_LOCAL_REDIS_PORT), never the shared 6379.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { freePort } from '../helpers/redis-server.js';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

async function listens(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await Promise.race([
      once(socket, 'connect'),
      once(socket, 'error').then(() => Promise.reject(new Error())),
    ]);
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/** The environment of a fresh `npm start` on a private port and data directory, without REDIS_URL. */
async function startEnv(t: TestContext): Promise<{ env: NodeJS.ProcessEnv; port: number; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'rnnlm-embedded-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  const { REDIS_URL: _unset, ...rest } = process.env;
  return {
    port,
    dataDir,
    env: {
      ...rest,
      RNNLM_LOCAL_REDIS_PORT: String(port),
      RNNLM_DATA_DIR: dataDir,
      RNNLM_ROLE: 'api',
      RNNLM_BACKEND: 'wasm',
      PORT: '0',
      RNNLM_LOG_LEVEL: 'silent',
    },
  };
}

function run(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out.stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (out.stderr += s));
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
  return { child, out, exited };
}

/**
 * Starts main and resolves with its HTTP address once it has printed all its start-up lines
 * (the models directory is the last: the lines can arrive in more than one chunk).
 */
async function startMain(t: TestContext, env: NodeJS.ProcessEnv) {
  const main = run(env);
  t.after(() => {
    if (main.child.exitCode === null) main.child.kill('SIGKILL');
  });
  const deadline = Date.now() + 60_000;
  while (!/^\s+models\s+\S+/m.test(main.out.stdout)) {
    if (main.child.exitCode !== null) throw new Error(`main exited: ${main.out.stderr}`);
    if (Date.now() > deadline) throw new Error(`main did not start: ${main.out.stdout}${main.out.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const url = /listening\s+(\S+)/.exec(main.out.stdout)?.[1] as string;
  return { ...main, url };
}

async function stopMain(main: ReturnType<typeof run>): Promise<number | null> {
  main.child.kill('SIGTERM');
  const [code] = await main.exited;
  return code;
}

test('with no REDIS_URL and no Redis, it runs its own, stops it on shutdown, and a restart keeps the queued jobs', async (t) => {
  const { env, port, dataDir } = await startEnv(t);
  assert.equal(await listens(port), false);

  const first = await startMain(t, env);
  assert.match(first.out.stdout, /embedded: nothing answered there, so rnnlm started redis-server/);
  assert.ok(await listens(port), 'the embedded Redis listens on the local port');
  // The API alone: nobody trains, so the job stays queued across the restart.
  const submitted = await fetch(`${first.url}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ corpus: { text: 'to be or not to be, that is the question. '.repeat(20) } }),
  });
  assert.equal(submitted.status, 202);
  const { id } = (await submitted.json()) as { id: string };
  assert.equal(await stopMain(first), 0);
  assert.equal(await listens(port), false, 'the embedded Redis stopped with the service');
  assert.ok(existsSync(join(dataDir, 'redis')), 'its files are under RNNLM_DATA_DIR/redis');

  const second = await startMain(t, env);
  const job = await fetch(`${second.url}/jobs/${id}`);
  assert.equal(job.status, 200);
  assert.equal(((await job.json()) as { status: string }).status, 'queued');
  assert.equal(await stopMain(second), 0);
});

test('with REDIS_URL set it never starts a Redis, even when that one does not answer', async (t) => {
  const { env, port } = await startEnv(t);
  const main = run({ ...env, REDIS_URL: 'redis://127.0.0.1:1' });
  const [code] = await main.exited;
  assert.equal(code, 1);
  assert.match(main.out.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);
  assert.doesNotMatch(main.out.stdout, /embedded/);
  assert.equal(await listens(port), false);
});

test('with REDIS_SENTINELS set it never starts a Redis either, and says to check the sentinels', async (t) => {
  const { env, port } = await startEnv(t);
  const main = run({ ...env, REDIS_SENTINELS: '127.0.0.1:1,127.0.0.1:2', REDIS_SENTINEL_NAME: 'prod' });
  const [code] = await main.exited;
  assert.equal(code, 1);
  assert.match(
    main.out.stderr,
    /cannot reach Redis at the primary of "prod" \(sentinels 127\.0\.0\.1:1, 127\.0\.0\.1:2\)/,
  );
  assert.match(main.out.stderr, /Check that the sentinels answer and monitor "prod"/);
  assert.doesNotMatch(main.out.stdout, /embedded/);
  assert.equal(await listens(port), false);
});

test('without a redis-server binary it says how to install one', async (t) => {
  const { env, port } = await startEnv(t);
  const emptyBin = await mkdtemp(join(tmpdir(), 'rnnlm-nobin-'));
  t.after(() => rm(emptyBin, { recursive: true, force: true }));
  const main = run({ ...env, PATH: emptyBin });
  const [code] = await main.exited;
  assert.equal(code, 1);
  assert.match(main.out.stderr, /no Redis answers and there is no redis-server to start one/);
  assert.match(main.out.stderr, /apt-get install redis-server/);
  assert.equal(await listens(port), false);
});
