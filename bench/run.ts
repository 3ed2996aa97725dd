/**
 * rnnlm vs PyTorch, side by side on this machine: `npm run bench [-- --quick] [--minutes N]`.
 *
 * rnnlm runs in this process on the wasm backend; the PyTorch reference (bench/torch_ref.py,
 * Debian's torch 1.13 with 2 threads, installed by bench/setup.sh) runs as subprocesses that
 * exchange tokens and weights with us through files in a temporary directory. Training and
 * scoring are interleaved A B A B so each ratio comes from one run on one machine state.
 * Prints a table and writes bench/results/latest.json. See docs/performance.md.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/ml/backend.js';
import { nativeKernels } from '../src/ml/native.js';
import type { ModelConfig } from '../src/ml/config.js';
import { chunkNll } from '../src/ml/eval/evaluate.js';
import { generate } from '../src/ml/generate/generate.js';
import type { LayerState } from '../src/ml/model/cells.js';
import { disposeState, RnnLm } from '../src/ml/model/lm.js';
import { Rng } from '../src/ml/rng.js';
import { CharTokenizer } from '../src/ml/tokenizers/char.js';
import { trainStep } from '../src/ml/train/trainer.js';
import { createOptimizer } from '../src/ml/train/optimizers.js';
import { serviceBench, serviceTable } from './service.js';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const TORCH_SCRIPT = join(here, 'torch_ref.py');
const DATA = resolve(root, '../shared/data/tinyshakespeare.txt');
const LR = 0.002;
const CLIP = 5;

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  minutes: number;
  rounds: number;
  out: string;
  /** The native kernels (`off` measures the pure-tfjs path). */
  native: 'on' | 'off';
}

function parseArgs(argv: string[]): Options {
  const opts: Options = {
    quick: false,
    minutes: 10,
    rounds: 3,
    out: join(here, 'results', 'latest.json'),
    native: 'on',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--quick') opts.quick = true;
    else if (a === '--minutes') opts.minutes = Number(value());
    else if (a === '--rounds') opts.rounds = Math.max(3, Number(value()));
    else if (a === '--out') opts.out = resolve(value());
    else if (a === '--native') {
      const v = value();
      if (v !== 'on' && v !== 'off') throw new Error('--native takes on or off');
      opts.native = v;
    } else if (a === '--help' || a === '-h') {
      console.log(
        'usage: npm run bench [-- --quick] [--minutes N] [--rounds N] [--out FILE] [--native on|off]',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(opts.minutes > 0)) throw new Error('--minutes must be positive');
  return opts;
}

// ---------------------------------------------------------------- helpers

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function torch<T>(args: string[], threads = 2): Promise<T> {
  try {
    const { stdout } = await execFileP(PYTHON, [TORCH_SCRIPT, ...args], {
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        OMP_NUM_THREADS: `${threads}`,
        OPENBLAS_NUM_THREADS: `${threads}`,
        BENCH_TORCH_THREADS: `${threads}`,
      },
    });
    const last = stdout.trim().split('\n').at(-1) ?? '';
    return JSON.parse(last) as T;
  } catch (err) {
    throw new Error(
      `the PyTorch reference failed (${PYTHON} ${args[0] ?? ''}); run bench/setup.sh first.\n${String(err)}`,
    );
  }
}

function writeInt32(path: string, data: Int32Array): void {
  writeFileSync(path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/** Sequential partition, identical to torch_ref.py's Batches: B contiguous streams, T steps a batch. */
class Batches {
  private readonly stream: number;
  private offset = 0;
  readonly x: Int32Array;
  readonly y: Int32Array;

  constructor(
    private readonly tokens: Int32Array,
    private readonly batch: number,
    private readonly steps: number,
  ) {
    this.stream = Math.floor((tokens.length - 1) / batch);
    this.x = new Int32Array(batch * steps);
    this.y = new Int32Array(batch * steps);
  }

  get chunks(): number {
    return Math.floor(this.stream / this.steps);
  }

  /** Fills x/y (time-major) with the next minibatch; true when the streams restarted. */
  next(): boolean {
    if (this.offset + this.steps > this.stream) this.offset = 0;
    for (let t = 0; t < this.steps; t++) {
      for (let b = 0; b < this.batch; b++) {
        const i = b * this.stream + this.offset + t;
        this.x[t * this.batch + b] = this.tokens[i] as number;
        this.y[t * this.batch + b] = this.tokens[i + 1] as number;
      }
    }
    this.offset += this.steps;
    return this.offset === this.steps;
  }
}

interface TrainConfig {
  name: string;
  hidden: number;
  embedding: number;
  batch: number;
  steps: number;
  layers: number;
}

function modelConfig(c: TrainConfig, vocabSize: number): ModelConfig {
  return {
    cell: 'lstm',
    layers: c.layers,
    hiddenSize: c.hidden,
    embeddingSize: c.embedding,
    dropout: 0,
    tieWeights: false,
    vocabSize,
  };
}

/** matMul FLOPs per token of one forward pass (2 per multiply-add). */
function forwardFlopsPerToken(c: TrainConfig, vocab: number): number {
  let macs = 0;
  for (let l = 0; l < c.layers; l++) macs += (l === 0 ? c.embedding : c.hidden) * 4 * c.hidden;
  macs += c.layers * c.hidden * 4 * c.hidden + c.hidden * vocab;
  return 2 * macs;
}

/** The arguments of a torch_ref.py command that times `measure` minibatches of `c` after `warmup`. */
function stepArgs(
  command: 'train' | 'score',
  c: TrainConfig,
  vocab: number,
  tokensFile: string,
  warmup: number,
  measure: number,
): string[] {
  return [
    command,
    ...modelArgs(c, vocab),
    '--tokens',
    tokensFile,
    '--batch',
    `${c.batch}`,
    '--steps',
    `${c.steps}`,
    '--warmup',
    `${warmup}`,
    '--measure',
    `${measure}`,
  ];
}

function modelArgs(c: TrainConfig, vocab: number): string[] {
  return [
    '--vocab',
    `${vocab}`,
    '--emb',
    `${c.embedding}`,
    '--hidden',
    `${c.hidden}`,
    '--layers',
    `${c.layers}`,
  ];
}

/** A training session of rnnlm that lives across rounds (warmed up once). */
class RnnlmTrainer {
  readonly model: RnnLm;
  private readonly optimizer = createOptimizer('adam');
  private readonly data: Batches;
  private state: LayerState[];
  private readonly rng = new Rng(7);

  constructor(
    private readonly c: TrainConfig,
    tokens: Int32Array,
    vocab: number,
    seed = 1,
  ) {
    this.model = RnnLm.create(modelConfig(c, vocab), seed);
    this.data = new Batches(tokens, c.batch, c.steps);
    this.state = this.model.zeroState(c.batch);
  }

  /** Runs n steps; returns the wall time of each in ms and the last loss. */
  async run(n: number): Promise<{ stepMs: number[]; loss: number }> {
    const stepMs: number[] = [];
    let loss = Number.NaN;
    for (let i = 0; i < n; i++) {
      if (this.data.next()) {
        disposeState(this.state);
        this.state = this.model.zeroState(this.c.batch);
      }
      const t0 = performance.now();
      const r = await trainStep(this.model, this.optimizer, {
        x: this.data.x,
        y: this.data.y,
        steps: this.c.steps,
        batch: this.c.batch,
        state: this.state,
        rng: this.rng,
        backwardScale: undefined,
        learningRate: LR,
        clipNorm: CLIP,
        clipValue: undefined,
      });
      stepMs.push(performance.now() - t0);
      disposeState(this.state);
      this.state = r.state;
      loss = r.loss;
    }
    return { stepMs, loss };
  }

  dispose(): void {
    disposeState(this.state);
    this.optimizer.dispose();
    this.model.dispose();
  }
}

async function rnnlmValNats(model: RnnLm, val: Int32Array, batch: number, steps: number): Promise<number> {
  const data = new Batches(val, batch, steps);
  let state = model.zeroState(batch);
  let total = 0;
  let count = 0;
  for (let k = 0; k < data.chunks; k++) {
    data.next();
    const out = chunkNll(model, data.x, data.y, steps, state);
    disposeState(state);
    state = out.state;
    const nll = await out.nll.data();
    out.nll.dispose();
    for (const v of nll) total += v;
    count += nll.length;
  }
  disposeState(state);
  return total / count;
}

// ---------------------------------------------------------------- results

interface TrainResult {
  config: string;
  hidden: number;
  embedding: number;
  batch: number;
  steps: number;
  stepsMeasured: { rnnlm: number; torch: number };
  rnnlmTokPerSec: number;
  torchTokPerSec: number;
  ratio: number;
  roundRatios: number[];
  torch1ThreadTokPerSec: number;
  ratioVsTorch1Thread: number;
  flopsPerToken: number;
  rnnlmGflops: number;
  torchGflops: number;
  ceilingShare: number;
  torchCeilingShare: number;
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadAvgStart = loadavg()[0] ?? Number.NaN;
  const log = (msg: string) =>
    console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}`);
  process.env.RNNLM_BACKEND = 'wasm';
  const backend = await initBackend('wasm', opts.native);
  if (backend.name !== 'wasm') throw new Error(`expected the wasm backend, got ${backend.name}`);
  // The same thread budget as the torch reference.
  nativeKernels()?.setThreads(2);

  const text = readFileSync(DATA, 'utf8');
  const tokenizer = CharTokenizer.train(text);
  const vocab = tokenizer.vocabSize;
  const tokens = Int32Array.from(tokenizer.encode(text));
  const tmp = mkdtempSync(join(tmpdir(), 'rnnlm-bench-'));
  const tokensFile = join(tmp, 'tokens.i32');
  writeInt32(tokensFile, tokens);

  try {
    // sgemm ceiling of this machine (torch.mm, 2 threads), measured in this run.
    log('sgemm ceiling (torch.mm 2048², 2 threads)');
    const ceiling = await torch<{ gflops: number; gflopsMedian: number; torch: string; threads: number }>([
      'ceiling',
      '--n',
      '2048',
      '--reps',
      opts.quick ? '3' : '8',
    ]);

    // ------------------------------------------------ training throughput
    const configs: TrainConfig[] = [
      { name: 'H256 E64 B32 T64', hidden: 256, embedding: 64, batch: 32, steps: 64, layers: 2 },
      { name: 'H512 E64 B64 T64', hidden: 512, embedding: 64, batch: 64, steps: 64, layers: 2 },
    ];
    const train: TrainResult[] = [];
    let crossModel: RnnLm | undefined;
    let crossTrainer: RnnlmTrainer | undefined;
    for (const c of configs) {
      // Per round: quick mode pools 2 steps x 3 rounds (>= 5 steps) for the big config.
      const perRound = opts.quick ? (c.hidden >= 512 ? 2 : 3) : c.hidden >= 512 ? 4 : 10;
      const warmup = opts.quick ? 1 : 2;
      const torchWarmup = 2; // a fresh torch process is slow for its first steps
      const tokPerStep = c.batch * c.steps;
      const flops = 3 * forwardFlopsPerToken(c, vocab);
      const trainer = new RnnlmTrainer(c, tokens, vocab);
      log(`train ${c.name}: rnnlm warm-up (${warmup} steps)`);
      await trainer.run(warmup);
      const rMs: number[] = [];
      const tMs: number[] = [];
      const t1Ms: number[] = [];
      const roundRatios: number[] = [];
      // The same reference run at 2 threads (the issue's setting) and at 1 (faster here).
      const args = stepArgs('train', c, vocab, tokensFile, torchWarmup, perRound);
      for (let r = 0; r < opts.rounds; r++) {
        const a = await trainer.run(perRound);
        const b = await torch<{ stepMs: number[] }>(args);
        const b1 = await torch<{ stepMs: number[] }>(args, 1);
        rMs.push(...a.stepMs);
        tMs.push(...b.stepMs);
        t1Ms.push(...b1.stepMs);
        roundRatios.push(median(b.stepMs) / median(a.stepMs));
        log(
          `train ${c.name} round ${r + 1}/${opts.rounds}: rnnlm ${fmt(median(a.stepMs))} ms/step, torch ${fmt(median(b.stepMs))} ms/step (1 thread: ${fmt(median(b1.stepMs))}) (loss ${a.loss.toFixed(3)})`,
        );
      }
      const rTok = (tokPerStep * 1000) / median(rMs);
      const tTok = (tokPerStep * 1000) / median(tMs);
      const t1Tok = (tokPerStep * 1000) / median(t1Ms);
      train.push({
        config: c.name,
        hidden: c.hidden,
        embedding: c.embedding,
        batch: c.batch,
        steps: c.steps,
        stepsMeasured: { rnnlm: rMs.length, torch: tMs.length },
        rnnlmTokPerSec: rTok,
        torchTokPerSec: tTok,
        ratio: rTok / tTok,
        roundRatios,
        torch1ThreadTokPerSec: t1Tok,
        ratioVsTorch1Thread: rTok / t1Tok,
        flopsPerToken: flops,
        rnnlmGflops: (rTok * flops) / 1e9,
        torchGflops: (tTok * flops) / 1e9,
        ceilingShare: (rTok * flops) / 1e9 / ceiling.gflops,
        torchCeilingShare: (tTok * flops) / 1e9 / ceiling.gflops,
      });
      if (crossModel === undefined) {
        crossModel = trainer.model; // trained weights for the cross-check
        crossTrainer = trainer;
      } else trainer.dispose();
    }

    // ------------------------------------------------ correctness cross-check
    log('cross-check: rnnlm weights copied into torch, forward loss on one batch');
    const xc = configs[0] as TrainConfig;
    const model = crossModel as RnnLm;
    const manifest = model.getWeights().map((w, i) => {
      const file = join(tmp, `w${i}.f32`);
      writeFileSync(file, Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength));
      return { name: w.name, shape: w.shape, file };
    });
    writeFileSync(join(tmp, 'weights.json'), JSON.stringify({ weights: manifest }));
    const xb = new Batches(tokens, xc.batch, xc.steps);
    for (let k = 0; k < 17; k++) xb.next(); // some batch other than the first
    writeInt32(join(tmp, 'x.i32'), xb.x);
    writeInt32(join(tmp, 'y.i32'), xb.y);
    const zero = model.zeroState(xc.batch);
    const out = chunkNll(model, xb.x, xb.y, xc.steps, zero);
    disposeState(zero);
    disposeState(out.state);
    const rNll = await out.nll.data();
    out.nll.dispose();
    const tCross = await torch<{ loss: number; nll: number[] }>([
      'crosscheck',
      ...modelArgs(xc, vocab),
      '--weights',
      join(tmp, 'weights.json'),
      '--x',
      join(tmp, 'x.i32'),
      '--y',
      join(tmp, 'y.i32'),
      '--batch',
      `${xc.batch}`,
      '--steps',
      `${xc.steps}`,
    ]);
    let maxAbsDiff = 0;
    let rLoss = 0;
    for (let i = 0; i < rNll.length; i++) {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs((rNll[i] as number) - (tCross.nll[i] ?? Number.NaN)));
      rLoss += rNll[i] as number;
    }
    if (tCross.nll.length !== rNll.length) maxAbsDiff = Number.NaN;
    rLoss /= rNll.length;
    const crossCheck = {
      config: xc.name,
      rnnlmLoss: rLoss,
      torchLoss: tCross.loss,
      lossAbsDiff: Math.abs(rLoss - tCross.loss),
      maxAbsDiff,
      tolerance: 1e-4,
      pass: Math.abs(rLoss - tCross.loss) <= 1e-4 && maxAbsDiff <= 1e-4,
    };
    crossTrainer?.dispose();

    // ------------------------------------------------ scoring throughput (forward only)
    const sc = configs[0] as TrainConfig;
    const scoreSteps = opts.quick ? 8 : 20;
    const scoreModel = RnnLm.create(modelConfig(sc, vocab), 3);
    const sData = new Batches(tokens, sc.batch, sc.steps);
    let sState = scoreModel.zeroState(sc.batch);
    const scoreRun = async (n: number): Promise<number[]> => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        sData.next();
        const t0 = performance.now();
        const o = chunkNll(scoreModel, sData.x, sData.y, sc.steps, sState);
        await o.nll.data();
        ms.push(performance.now() - t0);
        o.nll.dispose();
        disposeState(sState);
        sState = o.state;
      }
      return ms;
    };
    await scoreRun(2);
    const srMs: number[] = [];
    const stMs: number[] = [];
    const st1Ms: number[] = [];
    const args = stepArgs('score', sc, vocab, tokensFile, 3, scoreSteps);
    for (let r = 0; r < opts.rounds; r++) {
      srMs.push(...(await scoreRun(scoreSteps)));
      const b = await torch<{ stepMs: number[] }>(args);
      const b1 = await torch<{ stepMs: number[] }>(args, 1);
      stMs.push(...b.stepMs);
      st1Ms.push(...b1.stepMs);
      log(
        `score round ${r + 1}/${opts.rounds}: rnnlm ${fmt(median(srMs), 1)} ms, torch ${fmt(median(stMs), 1)} ms (1 thread: ${fmt(median(st1Ms), 1)} ms)`,
      );
    }
    disposeState(sState);
    const scoreTok = sc.batch * sc.steps;
    const score = {
      config: `H${sc.hidden} E${sc.embedding} B${sc.batch} T${sc.steps}`,
      rnnlmTokPerSec: (scoreTok * 1000) / median(srMs),
      torchTokPerSec: (scoreTok * 1000) / median(stMs),
      ratio: median(stMs) / median(srMs),
      torch1ThreadTokPerSec: (scoreTok * 1000) / median(st1Ms),
      ratioVsTorch1Thread: median(st1Ms) / median(srMs),
    };

    // ------------------------------------------------ generation latency (batch 1)
    log('generate: 500 tokens, batch 1, state carried');
    const genCount = 500;
    const genReps = opts.quick ? 2 : 3;
    await generate(scoreModel, tokenizer, { maxTokens: 50, seed: 1 });
    const gMs: number[] = [];
    for (let r = 0; r < genReps; r++) {
      const t0 = performance.now();
      const g = await generate(scoreModel, tokenizer, { maxTokens: genCount, seed: r + 1 });
      gMs.push((performance.now() - t0) / g.tokens);
    }
    const tGen = await torch<{ msPerToken: number[] }>([
      'generate',
      ...modelArgs(sc, vocab),
      '--count',
      `${genCount}`,
      '--reps',
      `${genReps}`,
      '--start',
      `${tokenizer.boundaryIds[0] ?? 0}`,
    ]);
    const tGen1 = await torch<{ msPerToken: number[] }>(
      [
        'generate',
        ...modelArgs(sc, vocab),
        '--count',
        `${genCount}`,
        '--reps',
        `${genReps}`,
        '--start',
        `${tokenizer.boundaryIds[0] ?? 0}`,
      ],
      1,
    );
    const generateResult = {
      config: `H${sc.hidden} E${sc.embedding}, ${genCount} tokens, sampled`,
      rnnlmMsPerToken: median(gMs),
      torchMsPerToken: median(tGen.msPerToken),
      ratio: median(tGen.msPerToken) / median(gMs),
      torch1ThreadMsPerToken: median(tGen1.msPerToken),
    };
    scoreModel.dispose();

    // ------------------------------------------------ through the service
    const service = await serviceBench({
      root,
      corpus: text,
      backend,
      secondsPerRun: opts.quick ? 3 : 10,
      log,
    });

    // ------------------------------------------------ quality at equal time
    let quality: {
      rnnlmValNatsPerChar: number;
      torchValNatsPerChar: number;
      minutes: number;
      rnnlmSteps: number;
      torchSteps: number;
      config: string;
    } | null = null;
    if (!opts.quick) {
      const qc = configs[0] as TrainConfig;
      const cut = Math.floor(tokens.length * 0.9);
      const trainTok = tokens.subarray(0, cut);
      const valTok = tokens.subarray(cut);
      const trainFile = join(tmp, 'train.i32');
      const valFile = join(tmp, 'val.i32');
      writeInt32(trainFile, trainTok);
      writeInt32(valFile, valTok);
      log(`quality: rnnlm trains ${opts.minutes} min`);
      const q = new RnnlmTrainer(qc, trainTok, vocab, 11);
      const budget = opts.minutes * 60_000;
      const t0 = performance.now();
      let qSteps = 0;
      while (performance.now() - t0 < budget) {
        await q.run(1);
        qSteps++;
      }
      const rVal = await rnnlmValNats(q.model, valTok, qc.batch, qc.steps);
      q.dispose();
      log(
        `quality: rnnlm ${qSteps} steps, val ${rVal.toFixed(4)} nats/char; torch trains ${opts.minutes} min`,
      );
      const tq = await torch<{ steps: number; valNatsPerChar: number }>([
        'quality',
        ...modelArgs(qc, vocab),
        '--tokens',
        trainFile,
        '--val',
        valFile,
        '--batch',
        `${qc.batch}`,
        '--steps',
        `${qc.steps}`,
        '--minutes',
        `${opts.minutes}`,
      ]);
      quality = {
        config: `2x${qc.hidden} LSTM E${qc.embedding} B${qc.batch} T${qc.steps}, 90/10 split`,
        rnnlmValNatsPerChar: rVal,
        torchValNatsPerChar: tq.valNatsPerChar,
        minutes: opts.minutes,
        rnnlmSteps: qSteps,
        torchSteps: tq.steps,
      };
    }

    // ------------------------------------------------ report
    const cpu = cpus();
    const result = {
      date: new Date().toISOString(),
      mode: opts.quick ? 'quick' : 'full',
      machine: {
        cpu: cpu[0]?.model ?? 'unknown',
        cores: cpu.length,
        memoryGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        torch: ceiling.torch,
        torchThreads: ceiling.threads,
        sgemmGflops: ceiling.gflops,
        /** 1-minute load average before and after the run (other work on the machine skews ratios). */
        loadAvg: [loadAvgStart, loadavg()[0] ?? Number.NaN],
      },
      backend: backend.name,
      nativeKernels: nativeKernels() === undefined ? null : backend.nativeKernels,
      tfjs: backend.tfjsVersion,
      train,
      score,
      generate: generateResult,
      service,
      quality,
      crossCheck,
      seconds: (Date.now() - started) / 1000,
    };
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, `${JSON.stringify(result, null, 2)}\n`);

    const lines: string[] = [];
    lines.push(
      `rnnlm bench (${result.mode}) ${result.date} — ${result.machine.cpu}, ${result.machine.cores} cores; rnnlm ${backend.name}${result.nativeKernels === null ? ' (1 thread)' : ` + native kernels (${result.nativeKernels})`} vs torch ${ceiling.torch} (${ceiling.threads} threads); sgemm ceiling ${fmt(ceiling.gflops, 1)} GFLOP/s; load avg ${result.machine.loadAvg.map((l) => l.toFixed(2)).join(' → ')}`,
    );
    lines.push('');
    lines.push(
      '| training (2-layer LSTM, Adam, clip 5) | rnnlm tok/s | torch tok/s | ratio | rnnlm GFLOP/s | torch GFLOP/s | rnnlm % ceiling | torch % ceiling | steps (r/t) | torch 1-thread tok/s | ratio vs 1-thread |',
    );
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const t of train) {
      lines.push(
        `| ${t.config} | ${fmt(t.rnnlmTokPerSec)} | ${fmt(t.torchTokPerSec)} | ${fmt(t.ratio, 2)}× | ${fmt(t.rnnlmGflops, 1)} | ${fmt(t.torchGflops, 1)} | ${fmt(100 * t.ceilingShare, 1)} % | ${fmt(100 * t.torchCeilingShare, 1)} % | ${t.stepsMeasured.rnnlm}/${t.stepsMeasured.torch} | ${fmt(t.torch1ThreadTokPerSec)} | ${fmt(t.ratioVsTorch1Thread, 2)}× |`,
      );
    }
    lines.push('');
    lines.push('| measure | rnnlm | torch | ratio (>1: rnnlm faster) | torch 1-thread |');
    lines.push('| --- | ---: | ---: | ---: | ---: |');
    lines.push(
      `| scoring tok/s (${score.config}, forward only) | ${fmt(score.rnnlmTokPerSec)} | ${fmt(score.torchTokPerSec)} | ${fmt(score.ratio, 2)}× | ${fmt(score.torch1ThreadTokPerSec)} (${fmt(score.ratioVsTorch1Thread, 2)}×) |`,
    );
    lines.push(
      `| generation ms/token (batch 1, ${genCount} tokens) | ${fmt(generateResult.rnnlmMsPerToken, 3)} | ${fmt(generateResult.torchMsPerToken, 3)} | ${fmt(generateResult.ratio, 2)}× | ${fmt(generateResult.torch1ThreadMsPerToken, 3)} |`,
    );
    if (quality !== null) {
      lines.push(
        `| validation nats/char after ${quality.minutes} min (steps r/t ${quality.rnnlmSteps}/${quality.torchSteps}) | ${fmt(quality.rnnlmValNatsPerChar, 4)} | ${fmt(quality.torchValNatsPerChar, 4)} | ${fmt(quality.torchValNatsPerChar - quality.rnnlmValNatsPerChar, 4)} (torch − rnnlm) | |`,
      );
    } else {
      lines.push('| validation nats/char at equal time | skipped (--quick) | | | |');
    }
    lines.push(
      `| cross-check loss (${crossCheck.config}, same weights and batch) | ${crossCheck.rnnlmLoss.toFixed(6)} | ${crossCheck.torchLoss.toFixed(6)} | max abs Δ per token ${crossCheck.maxAbsDiff.toExponential(2)} — ${crossCheck.pass ? 'agrees to 1e-4' : 'MISMATCH'} | |`,
    );
    lines.push('');
    lines.push(...serviceTable(service));
    lines.push('');
    lines.push(`wrote ${opts.out} in ${fmt(result.seconds)} s`);
    console.log(lines.join('\n'));
    if (!crossCheck.pass) process.exitCode = 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    tf.disposeVariables();
  }
}

await main();
