/**
 * The PyTorch reference at every thread setting. Each measure runs bench/torch_ref.py once per
 * setting, each in its own process with its threads set through the environment before torch
 * loads (torch and OpenBLAS read them once, at load), and the measure's ratio is taken
 * against the best setting only. On a 2-core machine two intra-op threads that each call a
 * two-thread OpenBLAS oversubscribe the cores 2×, which made the bench's old fixed setting
 * 3–5× slower than torch at its best.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { PerSetting } from './settings.js';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const TORCH_SCRIPT = join(here, 'torch_ref.py');

/** Intra-op threads (`torch.set_num_threads`) × OpenBLAS threads, as `<intra>x<blas>`. */
export const TORCH_SETTINGS = ['1x1', '1x2', '2x1', '2x2'] as const;
export type TorchSetting = (typeof TORCH_SETTINGS)[number];

/** A figure at every torch setting that was run. */
export type TorchFigures<T> = PerSetting<T, TorchSetting>;

function threadsOf(setting: TorchSetting): { intraOp: string; blas: string } {
  const [intraOp = '1', blas = '1'] = setting.split('x');
  return { intraOp, blas };
}

/** Runs one torch_ref.py command at one thread setting; returns its JSON answer. */
export async function torchAt<T>(args: string[], setting: TorchSetting): Promise<T> {
  const { intraOp, blas } = threadsOf(setting);
  try {
    const { stdout } = await execFileP(PYTHON, [TORCH_SCRIPT, ...args], {
      maxBuffer: 64 * 1024 * 1024,
      env: {
        ...process.env,
        OMP_NUM_THREADS: intraOp,
        OPENBLAS_NUM_THREADS: blas,
        BENCH_TORCH_THREADS: intraOp,
      },
    });
    const last = stdout.trim().split('\n').at(-1) ?? '';
    return JSON.parse(last) as T;
  } catch (err) {
    throw new Error(
      `the PyTorch reference failed (${PYTHON} ${args[0] ?? ''}, threads ${setting}); run bench/setup.sh first.\n${String(err)}`,
      { cause: err },
    );
  }
}

/** torch's version; fails with the set-up hint when the reference cannot load. */
export async function torchVersion(): Promise<string> {
  try {
    const { stdout } = await execFileP(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)']);
    return stdout.trim();
  } catch (err) {
    throw new Error(`PyTorch does not load in ${PYTHON}; run bench/setup.sh first.\n${String(err)}`, {
      cause: err,
    });
  }
}

/** Runs the command at every setting, one process after the other. */
export async function torchAll<T>(args: string[]): Promise<Record<TorchSetting, T>> {
  const out: Partial<Record<TorchSetting, T>> = {};
  for (const s of TORCH_SETTINGS) out[s] = await torchAt<T>(args, s);
  return out as Record<TorchSetting, T>;
}

/** How a setting is named in tables: "1 thread + 2 BLAS threads". */
export function describeSetting(setting: TorchSetting): string {
  const { intraOp, blas } = threadsOf(setting);
  return `${intraOp} thread${intraOp === '1' ? '' : 's'} + ${blas} BLAS thread${blas === '1' ? '' : 's'}`;
}
