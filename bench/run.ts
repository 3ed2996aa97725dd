/**
 * rnnlm vs PyTorch, side by side on this machine:
 * `npm run bench [-- --quick] [--quality-minutes N] [--quality-steps N]`.
 *
 * rnnlm runs in this process on the wasm backend; the PyTorch reference (bench/torch_ref.py,
 * Debian's torch 1.13, installed by bench/setup.sh) runs as subprocesses at each of four thread
 * settings (bench/torch.ts) and exchanges tokens and weights with us through files in a
 * temporary directory. Every ratio is against torch's best setting for that measure. Training
 * and scoring are interleaved (rnnlm, then each torch setting, per round) so each ratio comes
 * from one run on one machine state. Prints a table and writes bench/results/latest.json.
 * See docs/performance.md.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { initBackend } from '../src/ml/backend.js';
import { nativeKernels } from '../src/ml/native.js';
import { chunkNll } from '../src/ml/eval/evaluate.js';
import { generate } from '../src/ml/generate/generate.js';
import { disposeState, RnnLm } from '../src/ml/model/lm.js';
import { CharTokenizer } from '../src/ml/tokenizers/char.js';
import { equalSteps, equalTime, type QualityResult } from './quality.js';
import {
  renderReport,
  type GenerateResult,
  type ScoreResult,
  type TorchThroughput,
  type TrainResult,
} from './report.js';
import {
  Batches,
  forwardFlopsPerToken,
  modelArgs,
  modelConfig,
  RnnlmTrainer,
  stepArgs,
  type TrainConfig,
} from './rnnlm-side.js';
import { serviceBench } from './service.js';
import {
  best,
  higher,
  lower,
  pickWinner,
  TORCH_SETTINGS,
  torchAll,
  torchAt,
  type TorchSetting,
} from './torch.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const DATA = resolve(root, '../shared/data/tinyshakespeare.txt');

// ---------------------------------------------------------------- options

interface Options {
  quick: boolean;
  /** Wall-clock budget per side of the equal-time quality run (0 skips it). */
  qualityMinutes: number;
  /** Steps per side of the equal-steps quality run (0 skips it). */
  qualitySteps: number;
  rounds: number;
  out: string;
  /** The native kernels (`off` measures the pure-tfjs path). */
  native: 'on' | 'off';
  /** rnnlm's kernel threads. */
  threads: number;
}

const USAGE =
  'usage: npm run bench [-- --quick] [--quality-minutes N] [--quality-steps N] [--rounds N] [--out FILE] [--native on|off] [--threads N]';

function parseArgs(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const opts: Options = {
    quick,
    qualityMinutes: quick ? 0.25 : 10,
    qualitySteps: quick ? 30 : 3000,
    rounds: 3,
    out: join(here, 'results', 'latest.json'),
    native: 'on',
    threads: 2,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const count = (): number => {
      const v = Number(value());
      if (!(v >= 0)) throw new Error(`${a} takes a number >= 0`);
      return v;
    };
    if (a === '--quick') continue;
    // --minutes is the flag's old name.
    else if (a === '--quality-minutes' || a === '--minutes') opts.qualityMinutes = count();
    else if (a === '--quality-steps') opts.qualitySteps = Math.round(count());
    else if (a === '--rounds') opts.rounds = Math.max(3, count());
    else if (a === '--threads') opts.threads = Math.max(1, Math.round(count()));
    else if (a === '--out') opts.out = resolve(value());
    else if (a === '--native') {
      const v = value();
      if (v !== 'on' && v !== 'off') throw new Error('--native takes on or off');
      opts.native = v;
    } else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return opts;
}

// ---------------------------------------------------------------- helpers

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function writeInt32(path: string, data: Int32Array): void {
  writeFileSync(path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '–');

function emptyRecord<T>(make: () => T): Record<TorchSetting, T> {
  return Object.fromEntries(TORCH_SETTINGS.map((s) => [s, make()])) as Record<TorchSetting, T>;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadAvgStart = loadavg()[0] ?? Number.NaN;
  const log = (msg: string) =>
    console.error(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${msg}`);
  const backend = await initBackend('wasm', opts.native, opts.threads);
  if (backend.name !== 'wasm') throw new Error(`expected the wasm backend, got ${backend.name}`);

  const text = readFileSync(DATA, 'utf8');
  const tokenizer = CharTokenizer.train(text);
  const vocab = tokenizer.vocabSize;
  const tokens = Int32Array.from(tokenizer.encode(text));
  const tmp = mkdtempSync(join(tmpdir(), 'rnnlm-bench-'));
  const tokensFile = join(tmp, 'tokens.i32');
  writeInt32(tokensFile, tokens);

  try {
    // sgemm ceiling of this machine: the best torch.mm 2048² over the thread settings.
    log('sgemm ceiling (torch.mm 2048², every thread setting)');
    const ceilings = pickWinner(
      await torchAll<{ gflops: number; torch: string }>([
        'ceiling',
        '--n',
        '2048',
        '--reps',
        opts.quick ? '3' : '8',
      ]),
      (c) => c.gflops,
      higher,
    );
    const ceiling = best(ceilings).gflops;
    const throughput = (tokPerSec: number, flops: number, steps: number): TorchThroughput => ({
      tokPerSec,
      gflops: (tokPerSec * flops) / 1e9,
      ceilingShare: (tokPerSec * flops) / 1e9 / ceiling,
      steps,
    });

    // ------------------------------------------------ training throughput
    // Caps a torch process's warm-up plus measured steps; an oversubscribed setting still
    // reports at least one measured step.
    const torchSeconds = opts.quick ? 8 : 60;
    const configs: TrainConfig[] = [
      { name: 'H256 E64 B32 T64', hidden: 256, embedding: 64, batch: 32, steps: 64, layers: 2 },
      { name: 'H512 E64 B64 T64', hidden: 512, embedding: 64, batch: 64, steps: 64, layers: 2 },
    ];
    const train: TrainResult[] = [];
    let crossTrainer: RnnlmTrainer | undefined;
    for (const c of configs) {
      const perRound = opts.quick ? (c.hidden >= 512 ? 2 : 3) : c.hidden >= 512 ? 4 : 10;
      const warmup = opts.quick ? 1 : 2;
      const torchWarmup = opts.quick ? 1 : 2; // a fresh torch process is slow for its first steps
      const tokPerStep = c.batch * c.steps;
      const flops = 3 * forwardFlopsPerToken(c, vocab);
      const trainer = new RnnlmTrainer(c, tokens, vocab);
      log(`train ${c.name}: rnnlm warm-up (${warmup} steps)`);
      await trainer.run(warmup);
      const rMs: number[] = [];
      const tMs = emptyRecord<number[]>(() => []);
      const rounds: { rnnlm: number; torch: Record<TorchSetting, number> }[] = [];
      const args = stepArgs('train', c, vocab, tokensFile, torchWarmup, perRound, torchSeconds);
      for (let r = 0; r < opts.rounds; r++) {
        const a = await trainer.run(perRound);
        rMs.push(...a.stepMs);
        const b = await torchAll<{ stepMs: number[] }>(args);
        for (const s of TORCH_SETTINGS) tMs[s].push(...b[s].stepMs);
        rounds.push({
          rnnlm: median(a.stepMs),
          torch: Object.fromEntries(TORCH_SETTINGS.map((s) => [s, median(b[s].stepMs)])) as Record<
            TorchSetting,
            number
          >,
        });
        log(
          `train ${c.name} round ${r + 1}/${opts.rounds}: rnnlm ${fmt(median(a.stepMs))} ms/step; torch ${TORCH_SETTINGS.map((s) => `${s} ${fmt(median(b[s].stepMs))}`).join(', ')} ms/step (loss ${a.loss.toFixed(3)})`,
        );
      }
      const rTok = (tokPerStep * 1000) / median(rMs);
      const torch = pickWinner(
        Object.fromEntries(
          TORCH_SETTINGS.map((s) => [
            s,
            throughput((tokPerStep * 1000) / median(tMs[s]), flops, tMs[s].length),
          ]),
        ) as Record<TorchSetting, TorchThroughput>,
        (t) => t.tokPerSec,
        higher,
      );
      train.push({
        config: c.name,
        hidden: c.hidden,
        embedding: c.embedding,
        batch: c.batch,
        steps: c.steps,
        rnnlm: { ...throughput(rTok, flops, rMs.length) },
        torch,
        ratio: rTok / best(torch).tokPerSec,
        roundRatios: rounds.map((r) => r.torch[torch.winner] / r.rnnlm),
        flopsPerToken: flops,
      });
      if (crossTrainer === undefined) crossTrainer = trainer;
      else trainer.dispose();
    }

    // ------------------------------------------------ correctness cross-check
    log('cross-check: rnnlm weights copied into torch, forward loss on one batch');
    const xc = configs[0] as TrainConfig;
    const model = (crossTrainer as RnnlmTrainer).model;
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
    const tCross = await torchAt<{ loss: number; nll: number[] }>(
      [
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
      ],
      '1x2',
    );
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
    const scoreFlops = forwardFlopsPerToken(sc, vocab);
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
    const stMs = emptyRecord<number[]>(() => []);
    const sArgs = stepArgs('score', sc, vocab, tokensFile, 3, scoreSteps, torchSeconds);
    for (let r = 0; r < opts.rounds; r++) {
      srMs.push(...(await scoreRun(scoreSteps)));
      const b = await torchAll<{ stepMs: number[] }>(sArgs);
      for (const s of TORCH_SETTINGS) stMs[s].push(...b[s].stepMs);
      log(
        `score round ${r + 1}/${opts.rounds}: rnnlm ${fmt(median(srMs), 1)} ms; torch ${TORCH_SETTINGS.map((s) => `${s} ${fmt(median(stMs[s]), 1)}`).join(', ')} ms`,
      );
    }
    disposeState(sState);
    const scoreTok = sc.batch * sc.steps;
    const scoreTorch = pickWinner(
      Object.fromEntries(
        TORCH_SETTINGS.map((s) => [
          s,
          throughput((scoreTok * 1000) / median(stMs[s]), scoreFlops, stMs[s].length),
        ]),
      ) as Record<TorchSetting, TorchThroughput>,
      (t) => t.tokPerSec,
      higher,
    );
    const rScoreTok = (scoreTok * 1000) / median(srMs);
    const score: ScoreResult = {
      config: `H${sc.hidden} E${sc.embedding} B${sc.batch} T${sc.steps}`,
      rnnlm: throughput(rScoreTok, scoreFlops, srMs.length),
      torch: scoreTorch,
      ratio: rScoreTok / best(scoreTorch).tokPerSec,
      flopsPerToken: scoreFlops,
    };

    // ------------------------------------------------ generation latency (batch 1)
    log('generate: 500 tokens, batch 1, state carried');
    const genCount = 500;
    const genReps = opts.quick ? 3 : 5;
    // Both sides warm up on whole generations first. V8 has not finished optimising rnnlm's
    // token loop after one: measured on fresh processes, 0.134, 0.101, 0.087, 0.082 ms/token
    // for the first four, ~0.070 from then on (a server's loop is always warm).
    const genWarmup = 4;
    for (let r = 0; r < genWarmup; r++)
      await generate(scoreModel, tokenizer, { maxTokens: genCount, seed: 100 + r });
    const gMs: number[] = [];
    for (let r = 0; r < genReps; r++) {
      const t0 = performance.now();
      const g = await generate(scoreModel, tokenizer, { maxTokens: genCount, seed: r + 1 });
      gMs.push((performance.now() - t0) / g.tokens);
    }
    scoreModel.dispose();
    const tGen = await torchAll<{ msPerToken: number[] }>([
      'generate',
      ...modelArgs(sc, vocab),
      '--count',
      `${genCount}`,
      '--reps',
      `${genReps}`,
      '--warmup-reps',
      `${genWarmup}`,
      '--start',
      `${tokenizer.boundaryIds[0] ?? 0}`,
    ]);
    const genTorch = pickWinner(
      Object.fromEntries(
        TORCH_SETTINGS.map((s) => [s, { msPerToken: median(tGen[s].msPerToken) }]),
      ) as Record<TorchSetting, { msPerToken: number }>,
      (g) => g.msPerToken,
      lower,
    );
    const generateResult: GenerateResult = {
      config: `H${sc.hidden} E${sc.embedding}, ${genCount} tokens, sampled`,
      rnnlmMsPerToken: median(gMs),
      torch: genTorch,
      ratio: best(genTorch).msPerToken / median(gMs),
    };

    // ------------------------------------------------ through the service
    const service = await serviceBench({
      root,
      corpus: text,
      backend,
      secondsPerRun: opts.quick ? 3 : 10,
      log,
    });

    // ------------------------------------------------ quality at equal time and equal steps
    const qualityInputs = {
      root,
      tmp,
      text,
      config: configs[0] as TrainConfig,
      native: opts.native,
      threads: opts.threads,
      // A thread setting that oversubscribes the cores validates slowly; quick runs read less.
      valChars: opts.quick ? 20_000 : undefined,
      log,
    };
    const quality: { equalTime: QualityResult | null; equalSteps: QualityResult | null } = {
      equalTime: opts.qualityMinutes > 0 ? await equalTime(qualityInputs, opts.qualityMinutes) : null,
      equalSteps:
        opts.qualitySteps > 0
          ? await equalSteps(qualityInputs, opts.qualitySteps, (train[0] as TrainResult).torch.winner)
          : null,
    };

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
        torch: best(ceilings).torch,
        /** Best torch.mm 2048² over the thread settings (GFLOP/s), and every setting's figure. */
        sgemmGflops: ceiling,
        sgemm: ceilings,
        /** 1-minute load average before and after the run (other work on the machine skews ratios). */
        loadAvg: [loadAvgStart, loadavg()[0] ?? Number.NaN],
      },
      backend: backend.name,
      nativeKernels: nativeKernels() === undefined ? null : nativeKernels()?.info(),
      rnnlmThreads: opts.threads,
      tfjs: backend.tfjsVersion,
      torchSettings: TORCH_SETTINGS,
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
    console.log(renderReport(result, opts.out));
    if (!crossCheck.pass) process.exitCode = 1;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    tf.disposeVariables();
  }
}

await main();
