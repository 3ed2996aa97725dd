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
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/ml/backend.js';
import { chunkNll } from '../src/ml/eval/evaluate.js';
import { disposeState } from '../src/ml/model/lm.js';
import { HostForward } from '../src/ml/model/host-forward.js';
import { nativeKernels, type NativeKernels } from '../src/ml/native.js';
import { CharTokenizer } from '../src/ml/tokenizers/char.js';
import { Batches, forwardFlopsPerToken, LR, CLIP, RnnlmTrainer, type TrainConfig } from './rnnlm-side.js';

const here = dirname(fileURLToPath(import.meta.url));
const DATA = resolve(here, '../../shared/data/tinyshakespeare.txt');

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
  const reps = arg('reps', 10);
  await initBackend('wasm', 'on', threads);
  const k = nativeKernels() as NativeKernels;
  instrument(
    k as unknown as Record<string, unknown>,
    ['lstmForward', 'lstmBackward', 'sgemm'],
    (name, args) =>
      name === 'sgemm'
        ? `native sgemm ${String(args[2])}x${String(args[3])}x${String(args[4])}`
        : `native ${name}`,
  );
  // Copies between JavaScript arrays and the wasm heap.
  const backend = tf.backend() as unknown as Record<string, unknown>;
  instrument(backend, ['readSync', 'write'], (name) => `heap ${name}`);

  const text = readFileSync(DATA, 'utf8');
  const tokenizer = CharTokenizer.train(text);
  const vocab = tokenizer.vocabSize;
  const tokens = Int32Array.from(tokenizer.encode(text));
  const flops = forwardFlopsPerToken(c, vocab);
  const tokPerChunk = c.batch * c.steps;

  const report = (title: string, runs: Map<string, number>[], totals: number[], flopsPerRun: number) => {
    const labels = new Set<string>();
    for (const r of runs) for (const l of r.keys()) labels.add(l);
    const total = median(totals);
    console.log(
      `\n${title}: median ${total.toFixed(2)} ms over ${totals.length} runs, ` +
        `${((tokPerChunk * 1000) / total).toFixed(0)} tok/s, ${(flopsPerRun / total / 1e6).toFixed(1)} GFLOP/s`,
    );
    console.log('| part | median ms | share |\n| --- | ---: | ---: |');
    const rows = [...labels].map((l) => [l, median(runs.map((r) => r.get(l) ?? 0))] as const);
    rows.sort((a, b) => b[1] - a[1]);
    for (const [l, ms] of rows)
      console.log(`| ${l} | ${ms.toFixed(2)} | ${((100 * ms) / total).toFixed(1)} % |`);
  };

  /** Runs `fn` under tf.profile, adding each tfjs kernel's time as `tfjs <name>`. */
  const profiled = async (fn: () => Promise<void>): Promise<{ ms: number; parts: Map<string, number> }> => {
    const t0 = performance.now();
    const info = await tf.profile(fn);
    const ms = performance.now() - t0;
    const parts = timers.take();
    for (const kernel of info.kernels) {
      const t = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
      parts.set(`tfjs ${kernel.name}`, (parts.get(`tfjs ${kernel.name}`) ?? 0) + t);
    }
    return { ms, parts };
  };

  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; threads ${threads}; ${k.info().library} (${k.info().isa})`,
  );

  // ---------------- scoring: chunkNll (the bench's and evaluate()'s path)
  {
    const model = new RnnlmTrainer(c, tokens, vocab, 3).model;
    const data = new Batches(tokens, c.batch, c.steps);
    let state = model.zeroState(c.batch);
    const runs: Map<string, number>[] = [];
    const plain: number[] = [];
    const totals: number[] = [];
    for (let i = 0; i < reps + 2; i++) {
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
    report(
      `scoring chunkNll (H${hidden} B${c.batch} T${c.steps}, profiled)`,
      runs,
      totals,
      flops * tokPerChunk,
    );

    // ---------------- scoring through HostForward (the server's batched path) + JS log-softmax
    const hf = new HostForward(k, model);
    const h = [new Float32Array(c.batch * hidden), new Float32Array(c.batch * hidden)];
    const cs = [new Float32Array(c.batch * hidden), new Float32Array(c.batch * hidden)];
    const hruns: Map<string, number>[] = [];
    const htotals: number[] = [];
    for (let i = 0; i < reps + 2; i++) {
      data.next();
      const t0 = performance.now();
      const logits = hf.run(data.x, c.steps, c.batch, h, cs, false);
      const t1 = performance.now();
      let nll = 0;
      for (let r = 0; r < tokPerChunk; r++) {
        const row = logits.subarray(r * vocab, (r + 1) * vocab);
        let m = -Infinity;
        for (const v of row) m = Math.max(m, v);
        let s = 0;
        for (const v of row) s += Math.exp(v - m);
        nll += m + Math.log(s) - (row[data.y[r] as number] as number);
      }
      const t2 = performance.now();
      const parts = timers.take();
      parts.set('js log-softmax + NLL', t2 - t1);
      if (!Number.isFinite(nll)) throw new Error('non-finite NLL');
      if (i >= 2) {
        htotals.push(t2 - t0);
        hruns.push(parts);
      }
    }
    report(`scoring HostForward.run + JS NLL (server path)`, hruns, htotals, flops * tokPerChunk);
    model.dispose();
  }

  // ---------------- training: trainStep
  {
    const trainer = new RnnlmTrainer(c, tokens, vocab);
    await trainer.run(2);
    timers.take();
    const runs: Map<string, number>[] = [];
    const totals: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < reps; i++) {
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
    report(
      `training trainStep (H${hidden} B${c.batch} T${c.steps}, profiled)`,
      runs,
      totals,
      3 * flops * tokPerChunk,
    );
    trainer.dispose();
  }
}

await main();
