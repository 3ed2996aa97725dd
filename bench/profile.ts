/**
 * Where a scoring chunk and a training step spend their time: `tsx bench/profile.ts
 * [--hidden 256] [--batch 32] [--steps 64] [--reps 10] [--threads 2]`.
 *
 * Runs the bench's model (2-layer LSTM, E64, char vocabulary of tinyshakespeare) on the wasm
 * backend with the native kernels and prints, per phase, the median wall time of each part:
 * the native kernel calls (wrapped), tfjs kernels (tf.profile's kernel times; the matMul
 * kernel's time includes its native sgemm), copies in and out of the wasm heap (the backend's
 * read and write), and what is left (op dispatch, JavaScript). Timings are wall clock, so
 * compare runs made at the same load; `uptime` is printed with them.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/ml/backend.js';
import { chunkNll } from '../src/ml/eval/evaluate.js';
import { disposeState, type RnnLm } from '../src/ml/model/lm.js';
import { HostForward } from '../src/ml/model/host-forward.js';
import { nativeKernels, type NativeKernels } from '../src/ml/native.js';
import { CharTokenizer } from '../src/ml/tokenizers/char.js';
import { DATA } from './common.js';
import { Batches, forwardFlopsPerToken, LR, CLIP, RnnlmTrainer, type TrainConfig } from './rnnlm-side.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : (s[s.length >> 1] as number);
};

/** Milliseconds spent per label during one measured call, reset by `take`. */
class Timers {
  private current = new Map<string, number>();

  add(label: string, ms: number): void {
    this.current.set(label, (this.current.get(label) ?? 0) + ms);
  }

  take(): Map<string, number> {
    const t = this.current;
    this.current = new Map();
    return t;
  }
}

const timers = new Timers();

/** Wraps every function of `obj` named in `names` so its wall time goes to `prefix` + name. */
function instrument(
  obj: Record<string, unknown>,
  names: string[],
  label: (name: string, args: unknown[]) => string,
) {
  for (const name of names) {
    const fn = obj[name] as (...args: unknown[]) => unknown;
    obj[name] = function (this: unknown, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return fn.apply(this, args);
      } finally {
        timers.add(label(name, args), performance.now() - t0);
      }
    };
  }
}

/** What every part of the profile reads. */
interface Setup {
  c: TrainConfig;
  reps: number;
  tokens: Int32Array;
  vocab: number;
  /** Forward FLOPs of one chunk. */
  flops: number;
}

const tokPerChunk = (c: TrainConfig) => c.batch * c.steps;

/** Prints the median time of every part over the runs, largest first. */
function report(
  title: string,
  runs: Map<string, number>[],
  totals: number[],
  c: TrainConfig,
  flopsPerRun: number,
) {
  const labels = new Set<string>();
  for (const r of runs) for (const l of r.keys()) labels.add(l);
  const total = median(totals);
  console.log(
    `\n${title}: median ${total.toFixed(2)} ms over ${totals.length} runs, ` +
      `${((tokPerChunk(c) * 1000) / total).toFixed(0)} tok/s, ${(flopsPerRun / total / 1e6).toFixed(1)} GFLOP/s`,
  );
  console.log('| part | median ms | share |\n| --- | ---: | ---: |');
  const rows = [...labels].map((l) => [l, median(runs.map((r) => r.get(l) ?? 0))] as const);
  rows.sort((a, b) => b[1] - a[1]);
  for (const [l, ms] of rows)
    console.log(`| ${l} | ${ms.toFixed(2)} | ${((100 * ms) / total).toFixed(1)} % |`);
}

/** Runs `fn` under tf.profile, adding each tfjs kernel's time as `tfjs <name>`. */
async function profiled(fn: () => Promise<void>): Promise<{ ms: number; parts: Map<string, number> }> {
  const t0 = performance.now();
  const info = await tf.profile(fn);
  const ms = performance.now() - t0;
  const parts = timers.take();
  for (const kernel of info.kernels) {
    const t = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    parts.set(`tfjs ${kernel.name}`, (parts.get(`tfjs ${kernel.name}`) ?? 0) + t);
  }
  return { ms, parts };
}

/** Scoring through chunkNll (the bench's and evaluate()'s path), plain and profiled runs alternating. */
async function profileChunkNll(model: RnnLm, data: Batches, s: Setup): Promise<void> {
  const { c } = s;
  let state = model.zeroState(c.batch);
  const runs: Map<string, number>[] = [];
  const plain: number[] = [];
  const totals: number[] = [];
  for (let i = 0; i < s.reps + 2; i++) {
    data.next();
    // Alternate plain and profiled runs: tf.profile itself costs time.
    const t0 = performance.now();
    const o = chunkNll(model, data.x, data.y, c.steps, state);
    await o.nll.data();
    const t = performance.now() - t0;
    timers.take();
    disposeState(state);
    o.nll.dispose();
    state = o.state;
    let next: typeof state = state;
    const p = await profiled(async () => {
      const q = chunkNll(model, data.x, data.y, c.steps, state);
      await q.nll.data();
      q.nll.dispose();
      next = q.state;
    });
    disposeState(state);
    state = next;
    if (i >= 2) {
      plain.push(t);
      totals.push(p.ms);
      runs.push(p.parts);
    }
  }
  disposeState(state);
  console.log(`\nscoring chunkNll without the profiler: median ${median(plain).toFixed(2)} ms`);
  report(`scoring chunkNll (H${c.hidden} B${c.batch} T${c.steps}, profiled)`, runs, totals, c, s.flops);
}

/** The NLL of `logits` rows against `targets`, in JavaScript (the server path's log-softmax). */
function jsNll(logits: Float32Array, targets: Int32Array, vocab: number): number {
  let nll = 0;
  for (let r = 0; r < targets.length; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let m = -Infinity;
    for (const v of row) m = Math.max(m, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - m);
    nll += m + Math.log(sum) - (row[targets[r] as number] as number);
  }
  return nll;
}

/** Scoring through HostForward (the server's batched path) plus a JavaScript log-softmax. */
function profileHostForward(k: NativeKernels, model: RnnLm, data: Batches, s: Setup): void {
  const { c } = s;
  const hf = new HostForward(k, model);
  const state = () => [new Float32Array(c.batch * c.hidden), new Float32Array(c.batch * c.hidden)];
  const h = state();
  const cs = state();
  const runs: Map<string, number>[] = [];
  const totals: number[] = [];
  for (let i = 0; i < s.reps + 2; i++) {
    data.next();
    const t0 = performance.now();
    const logits = hf.run(data.x, c.steps, c.batch, h, cs, false);
    const t1 = performance.now();
    const nll = jsNll(logits, data.y, s.vocab);
    const t2 = performance.now();
    const parts = timers.take();
    parts.set('js log-softmax + NLL', t2 - t1);
    if (!Number.isFinite(nll)) throw new Error('non-finite NLL');
    if (i >= 2) {
      totals.push(t2 - t0);
      runs.push(parts);
    }
  }
  report(`scoring HostForward.run + JS NLL (server path)`, runs, totals, c, s.flops);
}

/** Training through trainStep, plain and profiled steps alternating. */
async function profileTraining(s: Setup): Promise<void> {
  const { c } = s;
  const trainer = new RnnlmTrainer(c, s.tokens, s.vocab);
  await trainer.run(2);
  timers.take();
  const runs: Map<string, number>[] = [];
  const totals: number[] = [];
  const plain: number[] = [];
  for (let i = 0; i < s.reps; i++) {
    plain.push(...(await trainer.run(1)).stepMs);
    timers.take();
    const p = await profiled(async () => {
      await trainer.run(1);
    });
    totals.push(p.ms);
    runs.push(p.parts);
  }
  console.log(
    `\ntraining trainStep without the profiler: median ${median(plain).toFixed(2)} ms (lr ${LR}, clip ${CLIP})`,
  );
  report(`training trainStep (H${c.hidden} B${c.batch} T${c.steps}, profiled)`, runs, totals, c, 3 * s.flops);
  trainer.dispose();
}

/** Times the native kernel calls and the copies between JavaScript arrays and the wasm heap. */
function instrumentKernels(k: NativeKernels): void {
  instrument(
    k as unknown as Record<string, unknown>,
    ['rnnForward', 'rnnBackward', 'rnnInfer', 'sgemm'],
    (name, args) =>
      name === 'sgemm'
        ? `native sgemm ${String(args[2])}x${String(args[3])}x${String(args[4])}`
        : `native ${name}`,
  );
  instrument(
    tf.backend() as unknown as Record<string, unknown>,
    ['readSync', 'write'],
    (name) => `heap ${name}`,
  );
}

async function main(): Promise<void> {
  const threads = arg('threads', 2);
  const hidden = arg('hidden', 256);
  const c: TrainConfig = {
    name: `H${hidden}`,
    hidden,
    embedding: 64,
    batch: arg('batch', 32),
    steps: arg('steps', 64),
    layers: 2,
  };
  await initBackend('wasm', 'on', threads);
  const k = nativeKernels() as NativeKernels;
  instrumentKernels(k);
  const text = readFileSync(DATA, 'utf8');
  const tokenizer = CharTokenizer.train(text);
  const vocab = tokenizer.vocabSize;
  const tokens = Int32Array.from(tokenizer.encode(text));
  const setup: Setup = {
    c,
    reps: arg('reps', 10),
    tokens,
    vocab,
    flops: forwardFlopsPerToken(c, vocab) * tokPerChunk(c),
  };
  const load = loadavg().map((x) => x.toFixed(2));
  console.log(`load average ${load.join(' ')}; threads ${threads}; ${k.info().library} (${k.info().isa})`);
  const model = new RnnlmTrainer(c, tokens, vocab, 3).model;
  const data = new Batches(tokens, c.batch, c.steps);
  await profileChunkNll(model, data, setup);
  profileHostForward(k, model, data, setup);
  model.dispose();
  await profileTraining(setup);
}

await main();
