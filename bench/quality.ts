/**
 * What the speed buys: validation loss after the same wall-clock budget (rnnlm through
 * `rnnlm train --max-minutes N`, the path users run, evaluation and plateau decay included)
 * and after the same number of steps on the same batches (both sides fed by the bench's
 * sequential Batches, so only the engines and their defaults differ).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { CharTokenizer } from '../src/ml/tokenizers/char.js';
import { CLIP, LR, modelArgs, rnnlmValNats, RnnlmTrainer, type TrainConfig } from './rnnlm-side.js';
import { best, lower, pickWinner } from './settings.js';
import { torchAll, torchAt, type TorchFigures, type TorchSetting } from './torch.js';

const execFileP = promisify(execFile);

interface TorchQuality {
  steps: number;
  trainSeconds: number;
  valNatsPerChar: number;
}

export interface QualityResult {
  config: string;
  /** `equal time`: minutes per side; `equal steps`: steps per side. */
  budget: string;
  rnnlm: { steps: number; trainSeconds: number; valNatsPerChar: number };
  /** Every torch setting's figure; the winner has the lowest validation loss. */
  torch: TorchFigures<TorchQuality>;
  /** torch's winner minus rnnlm (> 0: rnnlm better). */
  gap: number;
}

export interface QualityInputs {
  root: string;
  tmp: string;
  text: string;
  config: TrainConfig;
  native: 'on' | 'off';
  threads: number;
  /** Validate on the first this many characters of the held-out 10 % only (quick runs). */
  valChars?: number | undefined;
  log: (msg: string) => void;
}

/** The 90/10 split both sides train and validate on, tokenized the way `rnnlm train` does it. */
function prepare(q: QualityInputs): {
  trainText: string;
  valText: string;
  vocab: number;
  trainFile: string;
  valFile: string;
  trainTokens: Int32Array;
  valTokens: Int32Array;
} {
  const cut = Math.floor(q.text.length * 0.9);
  const trainText = q.text.slice(0, cut);
  const valText = q.text.slice(cut, q.valChars === undefined ? undefined : cut + q.valChars);
  const tokenizer = CharTokenizer.train(trainText);
  const trainTokens = Int32Array.from(tokenizer.encode(trainText));
  const valTokens = Int32Array.from(tokenizer.encode(valText));
  const trainFile = join(q.tmp, 'quality-train.i32');
  const valFile = join(q.tmp, 'quality-val.i32');
  writeFileSync(trainFile, Buffer.from(trainTokens.buffer));
  writeFileSync(valFile, Buffer.from(valTokens.buffer));
  writeFileSync(join(q.tmp, 'quality-train.txt'), trainText);
  writeFileSync(join(q.tmp, 'quality-val.txt'), valText);
  return { trainText, valText, vocab: tokenizer.vocabSize, trainFile, valFile, trainTokens, valTokens };
}

function torchArgs(q: QualityInputs, d: ReturnType<typeof prepare>, budget: string[]): string[] {
  const c = q.config;
  return [
    'quality',
    ...modelArgs(c, d.vocab),
    '--tokens',
    d.trainFile,
    '--val',
    d.valFile,
    '--batch',
    `${c.batch}`,
    '--steps',
    `${c.steps}`,
    '--lr',
    `${LR}`,
    '--clip',
    `${CLIP}`,
    ...budget,
  ];
}

function result(
  config: TrainConfig,
  budget: string,
  rnnlm: QualityResult['rnnlm'],
  torch: Partial<Record<TorchSetting, TorchQuality>>,
): QualityResult {
  // Only the figures: torch_ref.py also returns every step's loss, which would swell the JSON.
  const figures = Object.fromEntries(
    Object.entries(torch).map(([s, t]) => [
      s,
      { steps: t.steps, trainSeconds: t.trainSeconds, valNatsPerChar: t.valNatsPerChar },
    ]),
  ) as TorchFigures<TorchQuality>['settings'];
  const picked = pickWinner(figures, (t) => t.valNatsPerChar, lower);
  return {
    config: `${config.layers}x${config.hidden} LSTM E${config.embedding} B${config.batch} T${config.steps}, 90/10 split`,
    budget,
    rnnlm,
    torch: picked,
    gap: best(picked).valNatsPerChar - rnnlm.valNatsPerChar,
  };
}

/** `rnnlm train` for `minutes` on the split's files, the bench model's shape and settings. */
function trainCommand(q: QualityInputs, minutes: number): string[] {
  const c = q.config;
  const flags: Record<string, string | number> = {
    corpus: join(q.tmp, 'quality-train.txt'),
    'val-file': join(q.tmp, 'quality-val.txt'),
    out: join(q.tmp, 'quality-model'),
    cell: 'lstm',
    layers: c.layers,
    hidden: c.hidden,
    embedding: c.embedding,
    'batch-size': c.batch,
    'seq-length': c.steps,
    lr: LR,
    'clip-norm': CLIP,
    epochs: 100000,
    'max-minutes': minutes,
    seed: 11,
  };
  const args = Object.entries(flags).flatMap(([k, v]) => [`--${k}`, `${v}`]);
  return [join(q.root, 'bin/rnnlm.js'), 'train', ...args, '--json'];
}

/** Equal wall-clock time: `rnnlm train --max-minutes N` in a child process, torch at each setting. */
export async function equalTime(q: QualityInputs, minutes: number): Promise<QualityResult> {
  const d = prepare(q);
  q.log(`quality (equal time): rnnlm train --max-minutes ${minutes}`);
  const { stdout } = await execFileP(process.execPath, trainCommand(q, minutes), {
    maxBuffer: 16 * 1024 * 1024,
    env: {
      ...process.env,
      RNNLM_BACKEND: 'wasm',
      RNNLM_NATIVE_KERNELS: q.native,
      RNNLM_THREADS: `${q.threads}`,
      RNNLM_LOG_LEVEL: 'silent',
    },
  });
  const line = stdout.trim().split('\n').at(-1) ?? '{}';
  const cli = JSON.parse(line) as { steps: number; valBitsPerChar: number | null };
  const rnnlm = {
    steps: cli.steps,
    trainSeconds: minutes * 60,
    valNatsPerChar: (cli.valBitsPerChar ?? Number.NaN) * Math.LN2,
  };
  q.log(`quality (equal time): rnnlm ${rnnlm.steps} steps, val ${rnnlm.valNatsPerChar.toFixed(4)}; torch`);
  const torch = await torchAll<TorchQuality>(torchArgs(q, d, ['--minutes', `${minutes}`]));
  return result(q.config, `${minutes} min`, rnnlm, torch);
}

/**
 * Equal steps on the same batches: rnnlm's trainStep in this process, torch at `setting` only
 * (the fastest in training). Unlike the other measures this one does not depend on threads:
 * the 2026-12-06 quick run got 1.9152 at all four settings, and the full run's 3,000 steps at
 * the oversubscribed 2x2 setting alone took half an hour.
 */
export async function equalSteps(
  q: QualityInputs,
  steps: number,
  setting: TorchSetting,
): Promise<QualityResult> {
  const d = prepare(q);
  const c = q.config;
  q.log(`quality (equal steps): rnnlm ${steps} steps`);
  const trainer = new RnnlmTrainer(c, d.trainTokens, d.vocab, 11);
  const t0 = performance.now();
  await trainer.run(steps);
  const trainSeconds = (performance.now() - t0) / 1000;
  const valNatsPerChar = await rnnlmValNats(trainer.model, d.valTokens, c.batch, c.steps);
  trainer.dispose();
  q.log(`quality (equal steps): rnnlm val ${valNatsPerChar.toFixed(4)}; torch at ${setting}`);
  const torch = await torchAt<TorchQuality>(torchArgs(q, d, ['--max-steps', `${steps}`]), setting);
  return result(c, `${steps} steps`, { steps, trainSeconds, valNatsPerChar }, { [setting]: torch });
}
