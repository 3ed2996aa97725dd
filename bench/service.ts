/**
 * The service under load: a real API process (`src/main.ts`, role api) serving a default-size
 * model (2×256 LSTM) trained for a few steps, and autocannon in this process driving
 * `GET /generate` (100 tokens), the same streamed, and `POST /score` (200 characters) at 1, 8,
 * 32 and 128 connections, and `GET /healthz` on one connection while the 32-connection
 * generation load runs. `npm run bench` runs it among the rest; alone:
 * `npx tsx bench/service.ts [--seconds N] [--out FILE]` prints the table and writes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import autocannon from 'autocannon';

import { initBackend } from '../src/ml/backend.js';
import { DATA, ROOT } from './common.js';
import { BENCH_CONFIGS } from './rnnlm-side.js';
import { makeServedModel } from './served-model.js';

export interface ServiceRow {
  route: string;
  connections: number;
  /** Answers per second, any status. */
  reqPerSec: number;
  /** 2xx answers per second. */
  okPerSec: number;
  /** Tokens generated or scored per second by the 2xx answers (0 for /healthz). */
  tokensPerSec: number;
  p50Ms: number;
  p99Ms: number;
  statusCodes: Record<string, number>;
  /** Socket errors and timeouts (autocannon's `errors` include timeouts). */
  errors: number;
  timeouts: number;
}

export interface ServiceOptions {
  root: string;
  corpus: string;
  /** The data directory (RNNLM_DATA_DIR) the API serves, and the model in it to load. */
  dataDir: string;
  modelId: string;
  secondsPerRun: number;
  log: (msg: string) => void;
}

/**
 * Limits the bench lifts so it measures the service rather than its protections: the rate
 * limit (per client, and autocannon is one client). The batch rows, the wait queue, the
 * in-flight cap and the overload guard stay as deployed, so 128 connections meet them.
 */
const SERVICE_ENV = {
  RNNLM_ROLE: 'api',
  RNNLM_BACKEND: 'wasm',
  RNNLM_LOG_LEVEL: 'warn',
  RNNLM_RATE_LIMIT_MAX: '1000000000',
};

const CONNECTIONS = [1, 8, 32, 128];
/** The generation load `GET /healthz` is measured under. */
const HEALTH_UNDER = 32;

/** The URL the API prints once it listens (it was started on port 0: the OS picks one). */
async function listeningUrl(child: ChildProcess, deadlineMs: number): Promise<string> {
  const stdout = child.stdout;
  if (stdout === null) throw new Error('the API has no stdout');
  stdout.setEncoding('utf8');
  let printed = '';
  const found = new Promise<string>((resolve, reject) => {
    stdout.on('data', (chunk: string) => {
      printed += chunk;
      const url = /listening\s+(http:\/\/\S+)/.exec(printed)?.[1];
      if (url !== undefined) resolve(url);
    });
    child.once('exit', (code) => reject(new Error(`the API exited (${code}) before listening:\n${printed}`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the API did not start listening')), deadlineMs);
  });
  try {
    return await Promise.race([found, late]);
  } finally {
    clearTimeout(timer);
  }
}

interface Route {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string> | undefined;
  body?: string | undefined;
}

function run(base: string, route: Route, connections: number, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: `${base}${route.path}`,
    method: route.method,
    headers: route.headers,
    body: route.body,
    connections,
    duration: seconds,
    timeout: 30,
  });
}

function toRow(
  route: string,
  r: autocannon.Result,
  connections: number,
  tokensPerRequest: number,
): ServiceRow {
  const statusCodes = Object.fromEntries(
    Object.entries(r.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]),
  );
  return {
    route,
    connections,
    reqPerSec: r.requests.total / r.duration,
    okPerSec: r['2xx'] / r.duration,
    tokensPerSec: (r['2xx'] * tokensPerRequest) / r.duration,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    statusCodes,
    errors: r.errors,
    timeouts: r.timeouts,
  };
}

/** The table `npm run bench` and this script print. */
export function serviceTable(rows: ServiceRow[]): string[] {
  const lines = [
    '| through the service (autocannon, one API process) | connections | ok req/s | tokens/s | p50 ms | p99 ms | statuses | socket errors / timeouts |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ];
  for (const row of rows) {
    const statuses = Object.entries(row.statusCodes)
      .map(([code, n]) => `${code}: ${n}`)
      .join(', ');
    lines.push(
      `| ${row.route} | ${row.connections} | ${row.okPerSec.toFixed(1)} | ${row.tokensPerSec.toFixed(0)} | ${row.p50Ms} | ${row.p99Ms} | ${statuses} | ${row.errors} / ${row.timeouts} |`,
    );
  }
  return lines;
}

/** The API process, started on a free port over `opts.dataDir`; resolves once it listens. */
async function startApi(opts: ServiceOptions): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(opts.root, 'src/main.ts')], {
    cwd: opts.root,
    env: {
      ...process.env,
      ...SERVICE_ENV,
      HOST: '127.0.0.1',
      PORT: '0',
      RNNLM_DATA_DIR: opts.dataDir,
      RNNLM_QUEUE_PREFIX: `rnnlm-bench-${process.pid}`,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    return { child, base: await listeningUrl(child, 60_000) };
  } catch (err) {
    await stopApi(child);
    throw err;
  }
}

async function stopApi(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

function routes(opts: ServiceOptions): Route[] {
  const generate = `/generate?model=${opts.modelId}&prompt=ROMEO%3A&maxTokens=100&seed=1`;
  return [
    { name: 'GET /generate (100 tokens)', method: 'GET', path: generate },
    { name: 'GET /generate, streamed (100 tokens)', method: 'GET', path: `${generate}&stream=true` },
    {
      name: 'POST /score (200 chars)',
      method: 'POST',
      path: '/score',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: opts.modelId, text: opts.corpus.slice(1000, 1200) }),
    },
  ];
}

/**
 * Five requests: the model loads into the cache and the code paths compile. After a
 * 128-connection run the server may still be shedding load: a 503 waits and retries.
 * Returns the tokens one answer carries.
 */
async function warmUp(base: string, route: Route): Promise<number> {
  let tokens = 0;
  for (let i = 0, refused = 0; i < 5; i++) {
    const r = await fetch(`${base}${route.path}`, {
      method: route.method,
      headers: route.headers,
      body: route.body,
    });
    if (r.status === 503 && refused++ < 30) {
      await r.text();
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(r.headers.get('retry-after') ?? 1)));
      i--;
      continue;
    }
    if (!r.ok) throw new Error(`${route.name}: warm-up answered ${r.status}: ${await r.text()}`);
    const text = await r.text();
    tokens = route.path.includes('stream=true') ? 100 : (JSON.parse(text) as { tokens: number }).tokens;
  }
  return tokens;
}

/** One route at every connection count; `GET /healthz` on a connection of its own under `withHealth`. */
async function measureRoute(
  base: string,
  route: Route,
  withHealth: boolean,
  opts: ServiceOptions,
): Promise<ServiceRow[]> {
  const tokens = await warmUp(base, route);
  const rows: ServiceRow[] = [];
  for (const connections of CONNECTIONS) {
    const health: Route = {
      name: `GET /healthz during ${route.name} ×${connections}`,
      method: 'GET',
      path: '/healthz',
    };
    const measured = withHealth && connections === HEALTH_UNDER;
    const [result, healthResult] = await Promise.all([
      run(base, route, connections, opts.secondsPerRun),
      measured ? run(base, health, 1, opts.secondsPerRun) : undefined,
    ]);
    const measuredRows = [toRow(route.name, result, connections, tokens)];
    if (healthResult !== undefined) measuredRows.push(toRow(health.name, healthResult, 1, 0));
    for (const row of measuredRows) {
      opts.log(
        `service: ${row.route} ×${row.connections}: ${row.okPerSec.toFixed(1)} ok/s, ${row.tokensPerSec.toFixed(0)} tok/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${JSON.stringify(row.statusCodes)}, errors ${row.errors}`,
      );
      rows.push(row);
    }
  }
  return rows;
}

/** Serves `opts.modelId` from a real API process and drives every route at every connection count. */
export async function serviceBench(opts: ServiceOptions): Promise<ServiceRow[]> {
  const { child, base } = await startApi(opts);
  try {
    const rows: ServiceRow[] = [];
    for (const [i, route] of routes(opts).entries())
      rows.push(...(await measureRoute(base, route, i === 0, opts)));
    return rows;
  } finally {
    await stopApi(child);
  }
}

/** `npx tsx bench/service.ts [--seconds N] [--out FILE]`: the service bench alone. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string) => {
    const at = args.indexOf(name);
    return at < 0 ? undefined : args[at + 1];
  };
  const date = new Date().toISOString().slice(0, 10);
  const out = option('--out') ?? join(ROOT, 'bench', 'results', `service-${date}.md`);
  const seconds = Number(option('--seconds') ?? 10);
  const backend = await initBackend('wasm');
  const log = (msg: string) => process.stderr.write(`${msg}\n`);
  const text = readFileSync(DATA, 'utf8');
  const tmp = mkdtempSync(join(tmpdir(), 'rnnlm-bench-service-'));
  try {
    const served = await makeServedModel({ text, tmp, log }, backend, BENCH_CONFIGS[0], 5);
    served.model.dispose();
    const rows = await serviceBench({
      root: ROOT,
      corpus: text,
      dataDir: served.dataDir,
      modelId: served.id,
      secondsPerRun: seconds,
      log,
    });
    const [load1, load5] = loadavg();
    const table = [
      `# Service bench, ${date}`,
      '',
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), load average ${load1?.toFixed(2)} / ${load5?.toFixed(2)} at the end; wasm backend, native kernels ${backend.nativeKernels?.replace(/, \d+ threads$/, '') ?? 'off'} with RNNLM_INFERENCE_THREADS=${process.env.RNNLM_INFERENCE_THREADS ?? '1 (default)'} in the API's inference thread; ${seconds} s per run.`,
      '',
      ...serviceTable(rows),
      '',
    ].join('\n');
    process.stdout.write(table);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, table);
    writeFileSync(out.replace(/\.md$/, '.json'), `${JSON.stringify(rows, null, 2)}\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await main();
