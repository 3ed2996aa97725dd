/**
 * A private `redis-server` on a free port, for tests that stop, restart, fill or otherwise
 * break Redis without touching the shared one on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { Redis } from 'ioredis';

/** A port nothing listens on right now (the OS picks it, then it is released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '2mb']`. */
  args?: string[];
}

/** One private Redis: its URL, and control over its process. */
export class RedisServer {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly args: string[],
  ) {}

  /** Starts a server on a free port; it is stopped and its directory removed when `t` ends. */
  static async start(t: TestContext, options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'rnnlm-redis-'));
    const server = new RedisServer(await freePort(), dir, options.args ?? []);
    t.after(async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    });
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process again on the same port (no-op while it runs) and waits for PONG. */
  async restart(): Promise<void> {
    if (this.running) return;
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        ...this.args,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (await this.ping()) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills the process (SIGKILL unless told otherwise) and waits until it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  /**
   * Freezes the server (SIGSTOP): it keeps its connections and accepts new ones, but answers
   * nothing until {@link thaw}, like a `DEBUG SLEEP` or a stalled failover.
   */
  freeze(): void {
    if (this.running) this.child?.kill('SIGSTOP');
  }

  /** Lets a frozen server go on; the commands sent meanwhile run now, in order. */
  thaw(): void {
    if (this.running) this.child?.kill('SIGCONT');
  }

  /** A client for assertions and admin commands (CONFIG SET, CLIENT KILL); closed when `t` ends. */
  client(t: TestContext): Redis {
    const redis = new Redis(this.url, { maxRetriesPerRequest: 1, lazyConnect: false });
    redis.on('error', () => undefined);
    t.after(() => redis.disconnect());
    return redis;
  }

  private async ping(): Promise<boolean> {
    const redis = new Redis(this.url, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
      connectTimeout: 500,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return (await redis.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      redis.disconnect();
    }
  }
}
