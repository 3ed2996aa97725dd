/**
 * A soak: the API and two workers (src/main.ts, real processes) under mixed traffic for
 * `--minutes N` (default 60): generations, streamed generations, scorings, listings, small
 * training jobs, and a model deleted and trained again every minute. Every process, the
 * training children included, carries bench/soak-probe.mjs, which samples its RSS, heap and
 * event-loop delay. At the end: a table, and bench/results/soak-<date>-<N>m.json and .svg.
 *
 *   npx tsx bench/soak.ts [--minutes 60] [--warmup-minutes 5] [--sample-seconds 5] [--out DIR]
 *
 * It uses the Redis at REDIS_URL (default 127.0.0.1:6379) under a key prefix of its own,
 * removed at the end, and a temporary data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';

import { TRAINING_QUEUE } from '../src/queue/training-queue.js';

import {
  growth,
  kindStats,
  planned,
  plotSvg,
  summaryTable,
  type Call,
  type ProbeSample,
  type ProcessSeries,
  type SoakReport,
} from './soak-report.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const PROBE = fileURLToPath(new URL('./soak-probe.mjs', import.meta.url));
const CORPUS = readFileSync(join(ROOT, 'test/fixtures/shakespeare-30k.txt'), 'utf8').slice(0, 8000);

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    'warmup-minutes': { type: 'string' },
    'sample-seconds': { type: 'string', default: '5' },
    out: { type: 'string', default: join(ROOT, 'bench/results') },
  },
});
const minutes = Number(args.minutes);
const warmupMinutes = Number(args['warmup-minutes'] ?? Math.min(5, minutes / 4));
if (!(minutes > 0) || !(warmupMinutes >= 0 && warmupMinutes < minutes)) {
  throw new Error('--minutes must be positive and --warmup-minutes less than it');
}

const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `rnnlm-soak-${process.pid}`;
const dataDir = mkdtempSync(join(tmpdir(), 'rnnlm-soak-'));
const probeDir = join(dataDir, 'probe');
mkdirSync(probeDir);
const log = (msg: string) => process.stderr.write(`soak: ${msg}\n`);

/** A process of the service, its name and what it printed. */
interface Service {
  name: string;
  child: ChildProcess;
  stdout: string;
}

async function startService(name: string, role: 'api' | 'worker'): Promise<Service> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', PROBE, join(ROOT, 'src/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      RNNLM_ROLE: role,
      HOST: '127.0.0.1',
      PORT: '0',
      REDIS_URL: redisUrl,
      RNNLM_QUEUE_PREFIX: prefix,
      RNNLM_DATA_DIR: dataDir,
      RNNLM_LOG_LEVEL: 'warn',
      // One client (this script) makes every request: the per-client limit would refuse most.
      RNNLM_RATE_LIMIT_MAX: '1000000000',
      // Two workers on a small machine: one BLAS thread each.
      RNNLM_THREADS: '1',
      SOAK_PROBE_DIR: probeDir,
      SOAK_PROBE_MS: String(Number(args['sample-seconds']) * 1000),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const service: Service = { name, child, stdout: '' };
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (service.stdout += s));
  const deadline = Date.now() + 120_000;
  while (!/^\s+models\s/m.test(service.stdout)) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`${name} did not start:\n${service.stdout}`);
    await sleep(100);
  }
  return service;
}

const calls: Call[] = [];
let jobsSubmitted = 0;
let stopAt = Infinity;
const running = () => Date.now() < stopAt;

/** One request, recorded; resolves its status and parsed body (or text, for a stream). */
async function call(kind: string, base: string, path: string, init: RequestInit = {}) {
  const t = Date.now();
  try {
    const res = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(120_000) });
    const text = await res.text();
    let body: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
    const code = (body as { code?: string } | undefined)?.code;
    // A stream that ended without its done event failed, whatever its status.
    const status = kind === 'stream' && !/^event: done$/m.test(text) ? 599 : res.status;
    calls.push({ kind, t, ms: Date.now() - t, status, code });
    return { status, body };
  } catch (err) {
    calls.push({ kind, t, ms: Date.now() - t, status: 0, code: String(err) });
    return { status: 0, body: undefined };
  }
}

const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

/** Trains a small model through the API and waits for it; its model id, or undefined. */
async function train(
  base: string,
  kind: string,
  maxSteps: number,
  hiddenSize: number,
): Promise<string | undefined> {
  const submitted = await call(
    kind,
    base,
    '/jobs',
    json({
      corpus: { text: CORPUS },
      model: { cell: 'lstm', layers: 1, hiddenSize, embeddingSize: 16 },
      training: { batchSize: 8, seqLength: 32, epochs: 1000, maxSteps, checkpointEvery: 50 },
    }),
  );
  const id = (submitted.body as { id?: string } | undefined)?.id;
  if (submitted.status !== 202 || id === undefined) return undefined;
  jobsSubmitted += 1;
  for (;;) {
    await sleep(1000);
    const { body } = await call('poll', base, `/jobs/${id}`);
    const job = body as { status?: string; modelId?: string } | undefined;
    if (job?.status === 'succeeded') return job.modelId;
    if (job?.status === 'failed' || job?.status === 'cancelled') return undefined;
  }
}

/** Repeats `work` with `pauseMs` between runs until the soak's end. */
async function every(pauseMs: number, work: () => Promise<unknown>): Promise<void> {
  while (running()) {
    await work();
    if (running()) await sleep(pauseMs);
  }
}

function traffic(base: string, model: string): Promise<void>[] {
  const text = CORPUS.slice(2000, 2200);
  const generate = { model, prompt: 'ROMEO:', maxTokens: 64 };
  let churned: string | undefined;
  return [
    every(100, () => call('generate', base, '/generate', json(generate))),
    every(100, () => call('generate', base, '/generate', json({ ...generate, seed: 3 }))),
    every(200, () =>
      call('stream', base, `/generate?model=${model}&prompt=ROMEO%3A&maxTokens=64&stream=true`),
    ),
    every(100, () => call('score', base, '/score', json({ model, text }))),
    every(500, async () => {
      await call('list', base, '/jobs?limit=20');
      await call('list', base, '/models');
    }),
    // Its model is deleted once made, so the models listed and kept on disk stay a handful.
    every(10_000, async () => {
      const made = await train(base, 'train', 60, 32);
      if (made !== undefined) await call('train', base, `/models/${made}`, { method: 'DELETE' });
    }),
    // A model deleted and trained again, generated from in between.
    every(60_000, async () => {
      if (churned !== undefined) await call('churn', base, `/models/${churned}`, { method: 'DELETE' });
      churned = await train(base, 'churn', 60, 32);
      if (churned !== undefined)
        await call('churn', base, '/generate', json({ ...generate, model: churned }));
    }),
  ];
}

/**
 * The probe files: one series per process over the traffic (`startT` to `endT`), named after the
 * service or the worker that forked it, with its growth after the warm-up.
 */
function readProbes(services: Service[], startT: number, warmupEndT: number, endT: number): ProcessSeries[] {
  const byPid = new Map(services.map((s) => [s.child.pid, s.name]));
  const series: ProcessSeries[] = [];
  for (const file of readdirSync(probeDir).sort()) {
    const samples = readFileSync(join(probeDir, file), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as ProbeSample)
      .filter((sample) => sample.t >= startT && sample.t <= endT);
    const first = samples[0];
    if (first === undefined) continue;
    const name = byPid.get(first.pid) ?? `${byPid.get(first.ppid) ?? 'process'} child ${first.pid}`;
    series.push({
      name,
      pid: first.pid,
      samples,
      rssGrowth: growth(samples, warmupEndT, 'rss'),
      heapGrowth: growth(samples, warmupEndT, 'heapUsed'),
    });
  }
  return series.sort((a, b) => a.name.localeCompare(b.name));
}

async function stopAll(services: Service[]): Promise<void> {
  await Promise.all(
    services.map(async (s) => {
      if (s.child.exitCode !== null) return;
      s.child.kill('SIGTERM');
      await once(s.child, 'exit');
    }),
  );
}

async function removeKeys(): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const loadavgStart = loadavg();
  const services: Service[] = [];
  // A lock lost while a job still trains shows as BullMQ's stalled event: the soak counts them.
  const queueEvents = new QueueEvents(TRAINING_QUEUE, {
    prefix,
    connection: { url: redisUrl, maxRetriesPerRequest: null },
  });
  let stalled = 0;
  queueEvents.on('stalled', () => (stalled += 1));
  try {
    await queueEvents.waitUntilReady();
    services.push(await startService('api', 'api'));
    services.push(await startService('worker-1', 'worker'), await startService('worker-2', 'worker'));
    const base = /listening\s+(http:\/\/\S+)/.exec(services[0]?.stdout ?? '')?.[1];
    if (base === undefined) throw new Error('the API printed no address');
    log('training the model to serve');
    const model = await train(base, 'setup', 100, 64);
    if (model === undefined) throw new Error('the model to serve did not train');
    calls.length = 0;

    const startT = Date.now();
    stopAt = startT + minutes * 60_000;
    log(`${minutes} min of traffic from ${new Date(startT).toISOString()}`);
    const progress = setInterval(
      () => log(`${((Date.now() - startT) / 60_000).toFixed(0)} min, ${calls.length} requests`),
      60_000,
    );
    await Promise.all(traffic(base, model));
    clearInterval(progress);
    const endT = Date.now();
    const seconds = (endT - startT) / 1000;
    await stopAll(services);

    const measured = calls.filter((c) => c.t >= startT);
    const report: SoakReport = {
      startedAt: new Date(startT).toISOString(),
      minutes,
      warmupMinutes,
      machine: { cpus: cpus().length, loadavgStart, loadavgEnd: loadavg() },
      kinds: kindStats(measured, seconds),
      perMinute: Array.from({ length: Math.ceil(minutes) }, (_, minute) => ({
        minute,
        kinds: kindStats(
          measured.filter((c) => c.t >= startT + minute * 60_000 && c.t < startT + (minute + 1) * 60_000),
          60,
        ),
      })),
      processes: readProbes(services, startT, startT + warmupMinutes * 60_000, endT),
      jobs: { submitted: jobsSubmitted, stalled },
      // The first 200 of them: an error's kind, time, status and code.
      errors: measured.filter((c) => c.status < 200 || (c.status >= 300 && !planned(c))).slice(0, 200),
    };
    const stamp = report.startedAt.slice(0, 16).replace('T', '-').replace(':', '');
    const file = join(args.out, `soak-${stamp}-${minutes}m`);
    mkdirSync(args.out, { recursive: true });
    writeFileSync(`${file}.json`, `${JSON.stringify(report, null, 1)}\n`);
    writeFileSync(`${file}.svg`, plotSvg(report, startT));
    process.stdout.write(`${summaryTable(report).join('\n')}\n\nwrote ${file}.json and ${file}.svg\n`);
  } finally {
    stopAt = 0;
    await stopAll(services);
    await queueEvents.close();
    await removeKeys().catch((err: unknown) =>
      log(`could not remove the keys under ${prefix}: ${String(err)}`),
    );
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
