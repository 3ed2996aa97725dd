/**
 * The truth about the machine, recorded with every run: which CPU and instruction set it has
 * (the same kind of machine comes with either an AVX-512 or an AVX2-only CPU, and every figure
 * depends on which), the OpenBLAS kernels in use, the FMA peak, oneDNN's and OpenBLAS's sgemm
 * at the shapes of the bench model's step, and the bound: oneDNN's LSTM primitive on one layer.
 */
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

import type { BenchContext } from './common.js';
import {
  compilePrograms,
  runProgram,
  type FmaAnswer,
  type LstmAnswer,
  type SgemmAnswer,
} from './native-programs.js';
import type { TrainConfig } from './rnnlm-side.js';

export interface SgemmShape {
  /** What the product is in the bench model's step. */
  name: string;
  m: number;
  n: number;
  k: number;
  openblasGflops: number;
  onednnGflops: number;
}

/**
 * oneDNN's LSTM primitive on one layer at a training shape (input size = hidden size, so
 * slightly more work than the bench model's first layer, whose input is the embedding).
 */
export interface LstmBound {
  config: string;
  hidden: number;
  batch: number;
  steps: number;
  /** One layer, forward inference, tokens per second. */
  forwardTokPerSec: number;
  /** One layer, forward training + backward, tokens per second and GFLOP/s. */
  trainingTokPerSec: number;
  trainingGflops: number;
  /** The bound of a 2-layer model's training step: one layer's forward + backward tok/s ÷ 2. */
  twoLayerTrainingTokPerSec: number;
  /** The same for a forward pass (scoring). */
  twoLayerForwardTokPerSec: number;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  /** From /proc/cpuinfo's flags: `AVX-512` when `avx512f` is there, else `AVX2` or `other`. */
  isa: 'AVX-512' | 'AVX2' | 'other';
  /** OPENBLAS_CORETYPE as set in the environment (null: OpenBLAS picks its kernels itself). */
  openblasCoretypeEnv: string | null;
  /** The kernels OpenBLAS runs (`openblas_get_corename`), and its build. */
  openblasCoretype: string;
  openblasConfig: string;
  /** oneDNN's version and the instruction set it dispatches to. */
  onednn: string;
  onednnIsa: string;
  /** Threads every machine measure ran with (the bench's `--threads`). */
  threads: number;
  /** Fused multiply-adds and nothing else, every thread, widest vectors: the fp32 peak. */
  fma: { isa: string; gflops: number; perThread: number };
  sgemm: SgemmShape[];
  bound: LstmBound[];
  /** 1-minute load average before and after the run (other work on the machine skews ratios). */
  loadAvg: number[];
  /** torch's version, filled in from its first answer. */
  torch: string;
}

/** The instruction set /proc/cpuinfo's flags tell. */
function cpuIsa(): Machine['isa'] {
  let flags: string[] = [];
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    flags = line?.split(':')[1]?.trim().split(/\s+/) ?? [];
  } catch {
    // Not Linux: no flags to read.
  }
  if (flags.includes('avx512f')) return 'AVX-512';
  return flags.includes('avx2') ? 'AVX2' : 'other';
}

/** The products of one training step of `c` (vocabulary `vocab`), and batch-1 generation's. */
function stepShapes(c: TrainConfig, vocab: number): Omit<SgemmShape, 'openblasGflops' | 'onednnGflops'>[] {
  const bt = c.batch * c.steps;
  const g = 4 * c.hidden;
  const tag = `H${c.hidden} B${c.batch}`;
  return [
    { name: `${tag} layer-0 input [B·T, E]×[E, 4H]`, m: bt, n: g, k: c.embedding },
    { name: `${tag} layer-1 input [B·T, H]×[H, 4H]`, m: bt, n: g, k: c.hidden },
    { name: `${tag} recurrent [B, H]×[H, 4H]`, m: c.batch, n: g, k: c.hidden },
    { name: `${tag} output [B·T, H]×[H, V]`, m: bt, n: vocab, k: c.hidden },
    { name: `H${c.hidden} generation [1, H]×[H, 4H]`, m: 1, n: g, k: c.hidden },
  ];
}

async function sgemmTable(
  binary: string,
  configs: TrainConfig[],
  ctx: BenchContext,
): Promise<{ shapes: SgemmShape[]; openblas: SgemmAnswer; onednn: SgemmAnswer }> {
  const shapes = configs.flatMap((c) => stepShapes(c, ctx.vocab));
  const args = [`${ctx.opts.quick ? 0.15 : 1}`, ...shapes.flatMap((s) => [`${s.m}`, `${s.n}`, `${s.k}`])];
  ctx.log(`machine: sgemm at ${shapes.length} shapes, OpenBLAS then oneDNN`);
  const openblas = await runProgram<SgemmAnswer>(binary, ['openblas', ...args], ctx.opts.threads);
  const onednn = await runProgram<SgemmAnswer>(binary, ['dnnl', ...args], ctx.opts.threads);
  return {
    shapes: shapes.map((s, i) => ({
      ...s,
      openblasGflops: openblas.shapes[i]?.gflops ?? Number.NaN,
      onednnGflops: onednn.shapes[i]?.gflops ?? Number.NaN,
    })),
    openblas,
    onednn,
  };
}

async function lstmBound(binary: string, c: TrainConfig, ctx: BenchContext): Promise<LstmBound> {
  const reps = ctx.opts.quick ? 2 : c.hidden >= 512 ? 8 : 20;
  ctx.log(`machine: oneDNN LSTM layer H${c.hidden} T${c.steps} B${c.batch}, ${reps} reps`);
  const args = [`${c.steps}`, `${c.batch}`, `${c.hidden}`, `${reps}`];
  const a = await runProgram<LstmAnswer>(binary, args, ctx.opts.threads);
  return {
    config: `H${c.hidden} T${c.steps} B${c.batch}`,
    hidden: c.hidden,
    batch: c.batch,
    steps: c.steps,
    forwardTokPerSec: a.forward.tokPerSec,
    trainingTokPerSec: a.training.tokPerSec,
    trainingGflops: a.training.gflops,
    twoLayerTrainingTokPerSec: a.training.tokPerSec / 2,
    twoLayerForwardTokPerSec: a.forward.tokPerSec / 2,
  };
}

/** Measures the machine at the bench's training shapes (`configs`). */
export async function measureMachine(
  configs: TrainConfig[],
  ctx: BenchContext,
  loadAvgStart: number,
): Promise<Machine> {
  const bin = await compilePrograms(ctx.tmp);
  ctx.log('machine: FMA peak');
  const fma = await runProgram<FmaAnswer>(bin.fma, ['100000000'], ctx.opts.threads);
  const sgemm = await sgemmTable(bin.sgemm, configs, ctx);
  const bound: LstmBound[] = [];
  for (const c of configs) bound.push(await lstmBound(bin.lstm, c, ctx));
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    isa: cpuIsa(),
    openblasCoretypeEnv: process.env.OPENBLAS_CORETYPE ?? null,
    openblasCoretype: sgemm.openblas.coretype ?? 'unknown',
    openblasConfig: sgemm.openblas.config ?? 'unknown',
    onednn: sgemm.onednn.lib,
    onednnIsa: sgemm.onednn.isa ?? 'unknown',
    threads: ctx.opts.threads,
    fma: { isa: fma.isa, gflops: fma.gflops, perThread: fma.perThread },
    sgemm: sgemm.shapes,
    bound,
    loadAvg: [loadAvgStart],
    torch: 'unknown',
  };
}
