/**
 * A private `redis-server` on a free port, for tests that stop, restart, fill or otherwise
 * break Redis without touching the shared one on 6379; and a private Sentinel deployment of
 * them (a primary, a replica, three `redis-sentinel`s) for failover tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import { Redis } from 'ioredis';

/** Stops `server` and removes its directory when `t` ends. */
function cleanUp(t: TestContext, server: RedisServer, dir: string): void {
  t.after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
}

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

  protected constructor(
    readonly port: number,
    protected readonly dir: string,
    private readonly args: string[],
  ) {}

  /** Starts a server on a free port; it is stopped and its directory removed when `t` ends. */
  static async start(t: TestContext, options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'rnnlm-redis-'));
    const server = new RedisServer(await freePort(), dir, options.args ?? []);
    cleanUp(t, server, dir);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The program and arguments that start the process. */
  protected command(): Promise<[string, string[]]> {
    return Promise.resolve([
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
    ]);
  }

  /** Starts the process again on the same port (no-op while it runs) and waits for PONG. */
  async restart(): Promise<void> {
    if (this.running) return;
    const [program, args] = await this.command();
    const child = spawn(program, args, { stdio: 'ignore' });
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

  /** Its `ROLE`: `master`, `slave` or `sentinel`; undefined while it does not answer. */
  async role(): Promise<string | undefined> {
    const redis = new Redis(this.url, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      const reply = (await redis.call('ROLE')) as unknown[];
      return String(reply[0]);
    } catch {
      return undefined;
    } finally {
      redis.disconnect();
    }
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

/** Options of {@link SentinelDeployment.start}. */
export interface SentinelOptions {
  /**
   * The master group's name.
   * @defaultValue `rnnlm`
   */
  name?: string;
  /**
   * How long a sentinel waits for an unanswering primary before it calls it down; with the
   * election after it, about the time a failover takes.
   * @defaultValue 1000
   */
  downAfterMs?: number;
}

/** A `redis-sentinel` on a free port, monitoring one primary with a quorum of two. */
export class RedisSentinel extends RedisServer {
  private constructor(
    port: number,
    dir: string,
    private readonly monitor: { name: string; primaryPort: number; downAfterMs: number },
  ) {
    super(port, dir, []);
  }

  static async startFor(t: TestContext, monitor: RedisSentinel['monitor']): Promise<RedisSentinel> {
    const dir = await mkdtemp(join(tmpdir(), 'rnnlm-sentinel-'));
    const sentinel = new RedisSentinel(await freePort(), dir, monitor);
    cleanUp(t, sentinel, dir);
    await sentinel.restart();
    return sentinel;
  }

  /** Sentinel rewrites its configuration file as it learns the deployment, so it gets one. */
  protected override async command(): Promise<[string, string[]]> {
    const { name, primaryPort, downAfterMs } = this.monitor;
    const file = join(this.dir, 'sentinel.conf');
    await writeFile(
      file,
      [
        `port ${this.port}`,
        'bind 127.0.0.1',
        `dir ${this.dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primaryPort} 2`,
        `sentinel down-after-milliseconds ${name} ${downAfterMs}`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    return ['redis-sentinel', [file]];
  }

  /** The port of the primary this sentinel names now; undefined while it does not answer. */
  async primaryPort(): Promise<number | undefined> {
    const reply = await this.ask('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.monitor.name);
    return Array.isArray(reply) ? Number(reply[1]) : undefined;
  }

  /** How many replicas and other sentinels it knows, and whether it calls the primary down. */
  async view(): Promise<{ replicas: number; sentinels: number; primaryDown: boolean } | undefined> {
    const { name } = this.monitor;
    const [replicas, sentinels, primary] = await Promise.all([
      this.ask('SENTINEL', 'REPLICAS', name),
      this.ask('SENTINEL', 'SENTINELS', name),
      this.ask('SENTINEL', 'MASTER', name),
    ]);
    if (!Array.isArray(replicas) || !Array.isArray(sentinels) || !Array.isArray(primary)) return undefined;
    const flags = String(primary[primary.indexOf('flags') + 1]);
    // A replica still syncing, or one it has marked down, does not count.
    const up = replicas.filter(
      (r) => Array.isArray(r) && !String(r[r.indexOf('flags') + 1]).includes('down'),
    );
    return { replicas: up.length, sentinels: sentinels.length, primaryDown: flags.includes('down') };
  }

  private async ask(...command: string[]): Promise<unknown> {
    const redis = new Redis(this.url, {
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      lazyConnect: true,
    });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return await redis.call(command[0] as string, ...command.slice(1));
    } catch {
      return undefined;
    } finally {
      redis.disconnect();
    }
  }
}

/**
 * A Sentinel deployment on free ports: a primary with an append-only file, a replica of it and
 * three sentinels (quorum two), everything stopped when `t` ends.
 */
export class SentinelDeployment {
  private constructor(
    readonly name: string,
    readonly primary: RedisServer,
    readonly replica: RedisServer,
    readonly sentinels: RedisSentinel[],
  ) {}

  /**
   * Starts it and resolves once every sentinel knows the replica and the two other sentinels:
   * from then on a dead primary is failed over.
   */
  static async start(t: TestContext, options: SentinelOptions = {}): Promise<SentinelDeployment> {
    const name = options.name ?? 'rnnlm';
    const primary = await RedisServer.start(t, {
      args: ['--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'],
    });
    const replica = await RedisServer.start(t, {
      args: ['--replicaof', '127.0.0.1', String(primary.port), '--maxmemory-policy', 'noeviction'],
    });
    const monitor = { name, primaryPort: primary.port, downAfterMs: options.downAfterMs ?? 1000 };
    const sentinels = await Promise.all([0, 1, 2].map(() => RedisSentinel.startFor(t, monitor)));
    const deployment = new SentinelDeployment(name, primary, replica, sentinels);
    await deployment.until(
      async () => {
        const views = await Promise.all(sentinels.map((s) => s.view()));
        return views.every((v) => v !== undefined && v.replicas === 1 && v.sentinels === 2);
      },
      30_000,
      'the sentinels to know the replica and each other',
    );
    return deployment;
  }

  /** `REDIS_SENTINELS` for this deployment. */
  get addresses(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  /** Resolves once every sentinel names the server on `port` as the primary. */
  async primaryIs(port: number, timeoutMs = 30_000): Promise<void> {
    await this.until(
      async () => (await Promise.all(this.sentinels.map((s) => s.primaryPort()))).every((p) => p === port),
      timeoutMs,
      `the sentinels to name port ${port} the primary`,
    );
  }

  private async until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
