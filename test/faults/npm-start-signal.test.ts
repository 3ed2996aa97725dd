/**
 * `npm start` stops everything when its own pid gets SIGTERM or SIGINT, as a process manager
 * or `kill` sends them: no node left running under PID 1 with its redis-server.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = resolve(import.meta.dirname, '../..');

/** Every process under `pid`, children first. */
function descendants(pid: number): number[] {
  // ps exits 1 when it lists nothing.
  let listed = '';
  try {
    listed = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = listed
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((n) => n > 0);
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function ps(pid: number): string {
  try {
    return execFileSync('ps', ['-o', 'pid,ppid,cmd', '-p', String(pid)], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return !alive(pid);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to the npm start process stops node and its embedded redis-server`, async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'rnnlm-start-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    // Its own embedded Redis on a free port: no Redis of the environment.
    const { REDIS_URL: _url, REDIS_SENTINELS: _sentinels, ...env } = process.env;
    const npm = spawn('npm', ['start'], {
      cwd: ROOT,
      env: {
        ...env,
        RNNLM_LOCAL_REDIS_PORT: String(port),
        PORT: '0',
        RNNLM_DATA_DIR: dataDir,
        RNNLM_NATIVE_KERNELS: 'off',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const redisPid = await new Promise<number>((resolvePid, reject) => {
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        const m = /started redis-server \(pid (\d+)/.exec(output);
        if (m !== null && /models\s/.test(output)) resolvePid(Number(m[1]));
      };
      npm.stdout.on('data', read);
      npm.stderr.on('data', read);
      npm.once('exit', () => reject(new Error(`npm start exited early:\n${output}`)));
    });
    assert.ok(npm.pid !== undefined);
    const started = descendants(npm.pid);
    assert.ok(started.includes(redisPid), `redis-server ${redisPid} is not under npm start`);
    t.after(() => {
      for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    });
    process.kill(npm.pid, signal);
    assert.ok(await gone(npm.pid, 30_000), 'npm start did not end');
    for (const pid of started) {
      assert.ok(await gone(pid, 30_000), `process ${pid} outlived npm start:\n${ps(pid)}`);
    }
  });
}
