/**
 * The service under load: a real API process (`src/main.ts`, role api) serving a default-size
 * model (2×256 LSTM) trained for a few steps, and autocannon in this process driving
 * `GET /generate` (100 tokens) and `POST /score` at 1, 8 and 32 connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import autocannon from 'autocannon';

import type { BackendInfo } from '../src/ml/backend.js';
import { trainFromText } from '../src/ml/pipeline.js';
import { newModelId } from '../src/contracts/ids.js';
import { writeModelDir } from '../src/storage/artifacts.js';

export interface ServiceRow {
  route: string;
  connections: number;
  /** Answers per second, any status. */
  reqPerSec: number;
  /** 2xx answers per second. */
  okPerSec: number;
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
  backend: BackendInfo;
  secondsPerRun: number;
  log: (msg: string) => void;
}

/**
 * Limits the bench lifts so it measures the service rather than its protections: the rate
 * limit (per client, and autocannon is one client) and the in-flight generation cap (32
 * connections would otherwise mostly get 503s). The overload guard stays as deployed.
 */
const SERVICE_ENV = {
  RNNLM_ROLE: 'api',
  RNNLM_BACKEND: 'wasm',
  RNNLM_LOG_LEVEL: 'warn',
  RNNLM_RATE_LIMIT_MAX: '1000000000',
  RNNLM_MAX_INFLIGHT_GENERATIONS: '64',
};

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

export async function serviceBench(opts: ServiceOptions): Promise<ServiceRow[]> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rnnlm-bench-service-'));
  try {
    opts.log('service: training a 2×256 LSTM for 5 steps to serve');
    const { artifacts } = await trainFromText({
      corpus: opts.corpus.slice(0, 200_000),
      validationFraction: 0.1,
      config: { training: { maxSteps: 5, evalEvery: 5, seed: 1 } },
      backend: opts.backend,
    });
    const id = newModelId();
    await writeModelDir(join(dataDir, 'models', id), {
      ...artifacts,
      modelConfig: { ...artifacts.modelConfig },
      meta: { ...artifacts.meta, id, jobId: null, name: 'bench' },
    });

    const child = spawn(process.execPath, ['--import', 'tsx', resolve(opts.root, 'src/main.ts')], {
      cwd: opts.root,
      env: {
        ...process.env,
        ...SERVICE_ENV,
        HOST: '127.0.0.1',
        PORT: '0',
        RNNLM_DATA_DIR: dataDir,
        RNNLM_QUEUE_PREFIX: `rnnlm-bench-${process.pid}`,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const base = await listeningUrl(child, 60_000);
      const score = {
        method: 'POST' as const,
        path: '/score',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: id,
          text: opts.corpus.slice(1000, 1200),
        }),
      };
      const routes = [
        {
          name: 'GET /generate (100 tokens)',
          method: 'GET' as const,
          path: `/generate?model=${id}&prompt=ROMEO%3A&maxTokens=100&seed=1`,
        },
        { name: 'POST /score (200 chars)', ...score },
      ];
      const rows: ServiceRow[] = [];
      for (const route of routes) {
        // Warm-up: the model loads into the cache and the code paths compile.
        for (let i = 0; i < 5; i++) {
          const r = await fetch(`${base}${route.path}`, {
            method: route.method,
            headers: 'headers' in route ? route.headers : undefined,
            body: 'body' in route ? route.body : undefined,
          });
          if (!r.ok) throw new Error(`${route.name}: warm-up answered ${r.status}: ${await r.text()}`);
        }
        for (const connections of [1, 8, 32]) {
          const r = await autocannon({
            url: `${base}${route.path}`,
            method: route.method,
            headers: 'headers' in route ? route.headers : undefined,
            body: 'body' in route ? route.body : undefined,
            connections,
            duration: opts.secondsPerRun,
            timeout: 30,
          });
          const statusCodes = Object.fromEntries(
            Object.entries(r.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]),
          );
          const row: ServiceRow = {
            route: route.name,
            connections,
            reqPerSec: r.requests.total / r.duration,
            okPerSec: r['2xx'] / r.duration,
            p50Ms: r.latency.p50,
            p99Ms: r.latency.p99,
            statusCodes,
            errors: r.errors,
            timeouts: r.timeouts,
          };
          opts.log(
            `service: ${route.name} ×${connections}: ${row.okPerSec.toFixed(1)} ok/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${JSON.stringify(statusCodes)}, errors ${row.errors}`,
          );
          rows.push(row);
        }
      }
      return rows;
    } finally {
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
