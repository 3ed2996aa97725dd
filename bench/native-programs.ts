/**
 * The machine's own measures, as small C programs (bench/native/*.c) compiled at bench time
 * with the machine's widest vectors (-march=native) into the run's temporary directory: the
 * FMA peak, OpenBLAS's and oneDNN's sgemm, and oneDNN's LSTM primitive. Each runs in a process
 * of its own with the bench's threads, and answers one JSON line.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));

export type Program = 'fma' | 'sgemm' | 'lstm';

/** Compiles every program into `dir`; returns the path of each binary. */
export async function compilePrograms(dir: string): Promise<Record<Program, string>> {
  const out = {} as Record<Program, string>;
  for (const p of ['fma', 'sgemm', 'lstm'] as const) {
    const binary = join(dir, p);
    const source = join(here, 'native', `${p}.c`);
    try {
      await execFileP('cc', [
        '-O2',
        '-march=native',
        '-fopenmp',
        source,
        '-o',
        binary,
        '-lopenblas',
        '-ldnnl',
      ]);
    } catch (err) {
      throw new Error(
        `compiling bench/native/${p}.c failed: it needs a C compiler, libopenblas-dev and libdnnl-dev; run bench/setup.sh first.\n${String(err)}`,
        { cause: err },
      );
    }
    out[p] = binary;
  }
  return out;
}

/** Runs a compiled program with `threads` OpenMP and OpenBLAS threads; returns its JSON answer. */
export async function runProgram<T>(binary: string, args: string[], threads: number): Promise<T> {
  const { stdout } = await execFileP(binary, args, {
    env: { ...process.env, OMP_NUM_THREADS: `${threads}`, OPENBLAS_NUM_THREADS: `${threads}` },
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}

export interface FmaAnswer {
  isa: string;
  threads: number;
  gflops: number;
  perThread: number;
}

export interface SgemmAnswer {
  lib: string;
  /** OpenBLAS: the kernels it runs (`openblas_get_corename`) and its build. */
  coretype?: string;
  config?: string;
  /** oneDNN: the instruction set it dispatches to. */
  isa?: string;
  threads: number;
  shapes: { m: number; n: number; k: number; gflops: number }[];
}

export interface LstmPass {
  ms: number;
  tokPerSec: number;
  gflops: number;
}

export interface LstmAnswer {
  t: number;
  b: number;
  h: number;
  i: number;
  isa: string;
  /** Forward inference. */
  forward: LstmPass;
  /** Forward training + backward. */
  training: LstmPass;
}
