/**
 * The Redis `npm start` runs for itself when no `REDIS_URL` is set and nothing answers on the
 * local port: a `redis-server` child configured as BullMQ's production guide asks (AOF on,
 * `noeviction`), its files under the data directory, so a later start finds the queued jobs
 * again. It is stopped with the service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Redis } from 'ioredis';

import { errors } from '../errors.js';

/** How to get a `redis-server`, for the message when there is none. */
export const INSTALL_REDIS_HINT = [
  'install redis-server, then start rnnlm again:',
  '  apt-get install redis-server      (Debian/Ubuntu)',
  '  brew install redis                (macOS)',
  'or set REDIS_URL to a running Redis (docker compose up -d redis starts one from this repository).',
].join('\n');

export interface EmbeddedRedisOptions {
  /** Port on 127.0.0.1 the server listens on. */
  port: number;
  /** Its working directory: the append-only files and its log. */
  dir: string;
  /** Time the server has to load its data and answer PING. */
  readyTimeoutMs?: number | undefined;
}

export interface EmbeddedRedis {
  url: string;
  pid: number;
  dir: string;
  /** Stops the server (it writes its AOF first); SIGKILL after `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
}

const LOG_FILE = 'redis-server.log';

/** Starts `redis-server` on 127.0.0.1:`port` and resolves once it answers PING. */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const { port, dir } = options;
  await mkdir(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--logfile',
      LOG_FILE,
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawned !== undefined) {
    const missing = (spawned as NodeJS.ErrnoException).code === 'ENOENT';
    throw missing
      ? errors.redisServerMissing(INSTALL_REDIS_HINT, spawned)
      : errors.redisServerNotStarted(undefined, spawned);
  }
  const url = `redis://127.0.0.1:${port}`;
  try {
    await waitForPong(url, exited, options.readyTimeoutMs ?? 30_000);
  } catch (err) {
    child.kill('SIGKILL');
    const log = await readFile(join(dir, LOG_FILE), 'utf8').catch(() => '');
    const tail = log.trim().split('\n').slice(-5).join('\n');
    throw errors.redisServerNotStarted(port, err, tail);
  }
  return { url, pid: child.pid ?? 0, dir, stop: (timeoutMs) => stop(child, exited, timeoutMs) };
}

async function waitForPong(
  url: string,
  exited: Promise<{ code: number | null; signal: string | null }>,
  timeoutMs: number,
): Promise<void> {
  let gone: { code: number | null; signal: string | null } | undefined;
  void exited.then((e) => (gone = e));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone !== undefined) throw new Error(`it exited (${gone.signal ?? `code ${gone.code}`})`);
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      // LOADING: the server is up but still reading its AOF.
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // Not listening yet, or still loading.
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no answer within ${timeoutMs} ms`);
}

async function stop(child: ChildProcess, exited: Promise<unknown>, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // SIGTERM makes redis-server fsync its AOF and exit.
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
