/**
 * What a kept recurrent state saves: the latency of a 20-token continuation after a long
 * history, from the history's state, against a 20-token generation from an empty prompt and
 * against re-reading the history. A real API process (`src/main.ts`, role api) serves a
 * default-size model (2×256 LSTM, a few training steps) on the local Redis; requests go one
 * at a time over HTTP, the kinds interleaved round by round so each ratio comes from one
 * machine state. `npx tsx bench/sessions.ts [--rounds N] [--history CHARS]`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Redis } from 'ioredis';

import { loadConfig } from '../src/config.js';
import { newModelId } from '../src/ids.js';
import { initBackend } from '../src/ml/backend.js';
import { trainFromText } from '../src/ml/training.js';
import { writeModelDir } from '../src/storage/artifacts.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = resolve(root, '../shared/data/tinyshakespeare.txt');
const corpus = readFileSync(
  existsSync(SHARED) ? SHARED : resolve(root, 'test/fixtures/shakespeare-30k.txt'),
  'utf8',
);

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? fallback : Number(process.argv[at + 1]);
}
const ROUNDS = option('rounds', 20);
const HISTORY = option('history', 20_000);
const TOKENS = 20;

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rnnlm-bench-sessions-'));
  const prefix = `rnnlm-bench-sessions-${process.pid}`;
  const backend = await initBackend('wasm');
  const { artifacts } = await trainFromText({
    corpus: corpus.slice(0, 200_000),
    validationFraction: 0.1,
    config: { training: { maxSteps: 5, evalEvery: 5, seed: 1 } },
    backend,
  });
  const model = newModelId();
  await writeModelDir(join(dataDir, 'models', model), {
    ...artifacts,
    modelConfig: { ...artifacts.modelConfig },
    meta: { ...artifacts.meta, id: model, jobId: null, name: 'bench' },
  });
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(root, 'src/main.ts')], {
    cwd: root,
    env: {
      ...process.env,
      RNNLM_ROLE: 'api',
      RNNLM_BACKEND: 'wasm',
      RNNLM_LOG_LEVEL: 'warn',
      RNNLM_RATE_LIMIT_MAX: '1000000000',
      RNNLM_DATA_DIR: dataDir,
      RNNLM_QUEUE_PREFIX: prefix,
      HOST: '127.0.0.1',
      PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const base = await new Promise<string>((resolveUrl, reject) => {
      let printed = '';
      child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
        printed += chunk;
        const url = /listening\s+(http:\/\/\S+)/.exec(printed)?.[1];
        if (url !== undefined) resolveUrl(url);
      });
      child.once('exit', (code) => reject(new Error(`the API exited (${code}):\n${printed}`)));
    });
    const post = async (body: Record<string, unknown>) => {
      const started = performance.now();
      const res = await fetch(`${base}/generate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model, temperature: 0, ...body }),
      });
      const answer = (await res.json()) as { tokens?: number; state?: { id: string }; message?: string };
      if (res.status !== 200 || answer.tokens === undefined)
        throw new Error(`${res.status}: ${answer.message}`);
      return { ms: performance.now() - started, answer };
    };

    const history = corpus.slice(0, HISTORY);
    const kept = await post({ prompt: history, maxTokens: 0, saveState: true });
    const handle = kept.answer.state?.id;
    if (handle === undefined) throw new Error('no state kept');
    const kinds: Record<string, Record<string, unknown>> = {
      [`${TOKENS} tokens from an empty prompt`]: { prompt: '', maxTokens: TOKENS },
      [`${TOKENS} tokens from the kept state of ${HISTORY} characters`]: {
        prompt: '',
        maxTokens: TOKENS,
        state: handle,
      },
      [`the same, keeping the new state (saveState)`]: {
        prompt: '',
        maxTokens: TOKENS,
        state: handle,
        saveState: true,
      },
      [`${TOKENS} tokens re-reading the ${HISTORY} characters`]: { prompt: history, maxTokens: TOKENS },
    };
    const times = new Map<string, number[]>(Object.keys(kinds).map((k) => [k, []]));
    // Warm-up: every path once (the model loads, the code paths compile).
    for (const body of Object.values(kinds)) await post(body);
    const load = loadavg()[0];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [kind, body] of Object.entries(kinds)) times.get(kind)?.push((await post(body)).ms);
    }
    const baseline = quantile(times.values().next().value ?? [], 0.5);
    console.log(
      `sessions bench: 2x256 LSTM, ${ROUNDS} interleaved rounds, one request at a time; ${cpus().length} cores, load average ${load?.toFixed(2)} -> ${loadavg()[0]?.toFixed(2)}`,
    );
    console.log(
      `keeping the state of ${HISTORY} characters (maxTokens 0, saveState): ${kept.ms.toFixed(1)} ms`,
    );
    console.log('| request (POST /generate, greedy) | median ms | p90 ms | median / empty prompt |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const [kind, ms] of times) {
      const median = quantile(ms, 0.5);
      console.log(
        `| ${kind} | ${median.toFixed(1)} | ${quantile(ms, 0.9).toFixed(1)} | ${(median / baseline).toFixed(2)} |`,
      );
    }
  } finally {
    child.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
    // The Redis may be shared: leave none of this run's keys in it.
    const redis = new Redis(loadConfig().REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
}

await main();
