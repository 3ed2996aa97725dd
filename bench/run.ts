/**
 * rnnlm against its peers on this machine, and the machine itself:
 * `npm run bench [-- --quick] [--quality-minutes N] [--quality-steps N] [...]` (options.ts).
 *
 * First the machine (machine.ts): its CPU and instruction set, the FMA peak, OpenBLAS's and
 * oneDNN's sgemm at the step's shapes, and the bound, oneDNN's LSTM primitive. Then rnnlm, in
 * this process on the wasm backend with the native kernels, against PyTorch (bench/torch_ref.py,
 * Debian's torch 1.13, at four thread settings, torch.ts) for training, and against onnxruntime
 * (on our own ONNX export, at two thread settings, ort.ts) and torch for scoring and batch-1
 * generation; then quality at equal time and steps, and the service under load. Every ratio
 * is against a peer's best setting; the sides of a measure are interleaved round by round.
 * Prints the tables and writes bench/results/latest.json. See docs/performance.md.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import * as tf from '@tensorflow/tfjs';

import { initBackend, type BackendInfo } from '../src/ml/backend.js';
import { CharTokenizer } from '../src/ml/tokenizers/char.js';
import { DATA, ROOT, writeInt32, type BenchContext } from './common.js';
import { measureMachine, type Machine } from './machine.js';
import { crossCheck } from './measures/crosscheck.js';
import { dropoutMeasure } from './measures/dropout.js';
import { generateMeasure } from './measures/generate.js';
import { scoreLongMeasure } from './measures/score-long.js';
import { scoreMeasure } from './measures/score.js';
import { trainMeasure } from './measures/train.js';
import { parseArgs, type Options } from './options.js';
import { ORT_SETTINGS, ortModels, ortOptions, releaseAll } from './ort.js';
import { equalSteps, equalTime } from './quality.js';
import { renderReport } from './report.js';
import type { BenchResult, TrainResult } from './result.js';
import { BENCH_CONFIGS } from './rnnlm-side.js';
import { makeServedModel, type ServedModel } from './served-model.js';
import { serviceBench } from './service.js';
import { TORCH_SETTINGS, torchVersion } from './torch.js';

function context(opts: Options): BenchContext {
  const started = Date.now();
  const log = (msg: string) =>
    console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}`);
  const text = readFileSync(DATA, 'utf8');
  const tokenizer = CharTokenizer.train(text);
  const tokens = Int32Array.from(tokenizer.encode(text));
  const tmp = mkdtempSync(join(tmpdir(), 'rnnlm-bench-'));
  const tokensFile = join(tmp, 'tokens.i32');
  writeInt32(tokensFile, tokens);
  return { opts, log, root: ROOT, tmp, text, tokens, tokensFile, vocab: tokenizer.vocabSize };
}

/** Training at every shape, then the cross-check on the first shape's trained weights. */
async function training(
  ctx: BenchContext,
  machine: Machine,
): Promise<Pick<BenchResult, 'train' | 'crossCheck' | 'dropout'>> {
  const train: TrainResult[] = [];
  const first = await trainMeasure(ctx, machine, BENCH_CONFIGS[0]);
  train.push(first.result);
  for (const c of BENCH_CONFIGS.slice(1)) {
    const { result, trainer } = await trainMeasure(ctx, machine, c);
    trainer.dispose();
    train.push(result);
  }
  const check = await crossCheck(ctx, first.trainer.model, BENCH_CONFIGS[0]);
  first.trainer.dispose();
  const dropout = await dropoutMeasure(ctx, BENCH_CONFIGS[0]);
  return { train, crossCheck: check, dropout };
}

/** Scoring, exact batch-1 scoring and generation on the served model, rnnlm against its peers. */
async function peers(
  ctx: BenchContext,
  machine: Machine,
  served: ServedModel,
): Promise<Pick<BenchResult, 'score' | 'scoreLong' | 'generate'>> {
  const ort = await ortModels(served.onnx, served.config.hidden, ctx.vocab);
  try {
    const score = await scoreMeasure(ctx, machine, served, ort);
    const scoreLong = await scoreLongMeasure(ctx, served, ort);
    const generate = await generateMeasure(ctx, served, ort);
    return { score, scoreLong, generate };
  } finally {
    await releaseAll(ort);
  }
}

/** The inference measures and the service, on one served model. */
async function inference(
  ctx: BenchContext,
  backend: BackendInfo,
  machine: Machine,
): Promise<Pick<BenchResult, 'score' | 'scoreLong' | 'generate' | 'service'>> {
  const served = await makeServedModel(ctx, backend, BENCH_CONFIGS[0], ctx.opts.quick ? 5 : 20);
  if (served.tokenizer.vocabSize !== ctx.vocab) throw new Error('the served model has another vocabulary');
  let measured: Pick<BenchResult, 'score' | 'scoreLong' | 'generate'>;
  try {
    measured = await peers(ctx, machine, served);
  } finally {
    served.model.dispose();
  }
  const service = ctx.opts.service
    ? await serviceBench({
        root: ROOT,
        corpus: ctx.text,
        dataDir: served.dataDir,
        modelId: served.id,
        secondsPerRun: ctx.opts.quick ? 3 : 10,
        log: ctx.log,
      })
    : null;
  return { ...measured, service };
}

async function quality(ctx: BenchContext, train: TrainResult[]): Promise<BenchResult['quality']> {
  const { opts } = ctx;
  const inputs = {
    ...ctx,
    config: BENCH_CONFIGS[0],
    native: opts.native,
    threads: opts.threads,
    // A thread setting that oversubscribes the cores validates slowly; quick runs read less.
    valChars: opts.quick ? 20_000 : undefined,
  };
  const fastest = (train[0] as TrainResult).torch.winner;
  return {
    equalTime: opts.qualityMinutes > 0 ? await equalTime(inputs, opts.qualityMinutes) : null,
    equalSteps: opts.qualitySteps > 0 ? await equalSteps(inputs, opts.qualitySteps, fastest) : null,
  };
}

async function measureAll(ctx: BenchContext, backend: BackendInfo): Promise<BenchResult> {
  const started = Date.now();
  const loadAvgStart = loadavg()[0] ?? Number.NaN;
  const torch = await torchVersion();
  const machine = await measureMachine([...BENCH_CONFIGS], ctx, loadAvgStart);
  const trained = await training(ctx, machine);
  const inferred = await inference(ctx, backend, machine);
  const q = await quality(ctx, trained.train);
  return {
    date: new Date().toISOString(),
    mode: ctx.opts.quick ? 'quick' : 'full',
    machine: { ...machine, torch, loadAvg: [loadAvgStart, loadavg()[0] ?? Number.NaN] },
    backend: backend.name,
    nativeKernels: backend.nativeKernels,
    rnnlmThreads: ctx.opts.threads,
    tfjs: backend.tfjsVersion,
    torchSettings: TORCH_SETTINGS,
    ortSettings: Object.fromEntries(ORT_SETTINGS.map((s) => [s, ortOptions(s)])),
    ...trained,
    ...inferred,
    quality: q,
    seconds: (Date.now() - started) / 1000,
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const backend = await initBackend('wasm', opts.native, opts.threads);
  if (backend.name !== 'wasm') throw new Error(`expected the wasm backend, got ${backend.name}`);
  const ctx = context(opts);
  try {
    const result = await measureAll(ctx, backend);
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(renderReport(result, opts.out));
    if (!result.crossCheck.pass || !result.scoreLong.pass) process.exitCode = 1;
  } finally {
    rmSync(ctx.tmp, { recursive: true, force: true });
    tf.disposeVariables();
  }
}

await main();
