/** What every measure of the bench shares: the run's data, its options, and small helpers. */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { Options } from './options.js';

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The corpus every measure reads: tinyshakespeare from the shared data, or `BENCH_DATA`. */
export const DATA = process.env.BENCH_DATA ?? resolve(ROOT, '../shared/data/tinyshakespeare.txt');

export type Log = (msg: string) => void;

/** One bench run's inputs, made once by run.ts and handed to every measure. */
export interface BenchContext {
  opts: Options;
  log: Log;
  /** The repository root. */
  root: string;
  /** A temporary directory for files exchanged with the peers, removed at the end. */
  tmp: string;
  /** tinyshakespeare, and its tokens under the bench model's char tokenizer. */
  text: string;
  tokens: Int32Array;
  /** `tokens` as raw int32, for torch_ref.py. */
  tokensFile: string;
  vocab: number;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function writeInt32(path: string, data: Int32Array): void {
  writeFileSync(path, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

export const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toFixed(d) : '–');
export const pct = (x: number): string => `${fmt(100 * x, 1)} %`;

/** Milliseconds `fn` took. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * A pause before each side, so it starts on cores its predecessor has left: onnxruntime's
 * intra-op threads keep spinning after a session's last run. Batch-1 generation on rnnlm took
 * 0.118-0.145 ms/token straight after onnxruntime's 2-thread side, and 0.082-0.089 after this
 * pause or after its 1-thread side (AVX-512 EPYC, 2 cores, shared).
 */
const SETTLE_MS = 300;

/**
 * Runs each side once per round, the sides one after the other, so every ratio comes from one
 * machine state; a side answers its samples (ms). Returns every round's samples per side.
 */
export async function interleave<K extends string>(
  rounds: number,
  sides: Record<K, () => Promise<number[]>>,
  onRound: (round: number, samples: Record<K, number[]>) => void,
): Promise<Record<K, number[][]>> {
  const names = Object.keys(sides) as K[];
  const all = Object.fromEntries(names.map((k) => [k, []])) as unknown as Record<K, number[][]>;
  for (let r = 0; r < rounds; r++) {
    const round = {} as Record<K, number[]>;
    for (const k of names) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      round[k] = await sides[k]();
    }
    for (const k of names) all[k].push(round[k]);
    onRound(r, round);
  }
  return all;
}
