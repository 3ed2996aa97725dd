/** The bench's result record (bench/results/*.json): what each measure answers. */
import type { Machine } from './machine.js';
import type { OrtFigures } from './ort.js';
import type { QualityResult } from './quality.js';
import type { ServiceRow } from './service.js';
import type { TorchFigures } from './torch.js';

export interface Throughput {
  tokPerSec: number;
  /** Textbook matMul FLOPs per second (see `flopsPerToken`). */
  gflops: number;
  /** GFLOP/s ÷ the machine's FMA peak measured in the same run. */
  peakShare: number;
  /** Steps or chunks measured. */
  steps: number;
}

export function throughput(
  tokPerSec: number,
  flopsPerToken: number,
  steps: number,
  peakGflops: number,
): Throughput {
  const gflops = (tokPerSec * flopsPerToken) / 1e9;
  return { tokPerSec, gflops, peakShare: gflops / peakGflops, steps };
}

/** A throughput as a share of oneDNN's bound for the same shape (see `Machine.bound`). */
export interface BoundShare {
  /** The 2-layer bound, tok/s. */
  tokPerSec: number;
  rnnlm: number;
  torch: number;
}

export interface TrainResult {
  config: string;
  hidden: number;
  embedding: number;
  batch: number;
  steps: number;
  rnnlm: Throughput;
  torch: TorchFigures<Throughput>;
  /** rnnlm tok/s ÷ torch's best setting's tok/s. */
  ratio: number;
  /** Per-round ratios against the winning setting, a sense of the noise. */
  roundRatios: number[];
  flopsPerToken: number;
  /** Against oneDNN's LSTM primitive (forward + backward) at the same H, B, T. */
  bound: BoundShare;
}

export interface ScoreResult {
  config: string;
  rnnlm: Throughput;
  torch: TorchFigures<Throughput>;
  ratio: number;
  ort: OrtFigures<Throughput>;
  /** rnnlm tok/s ÷ onnxruntime's best setting's tok/s. */
  ortRatio: number;
  /** Of onnxruntime's best setting's time, the share spent on the NLL of its logits in JavaScript. */
  ortNllShare: number;
  flopsPerToken: number;
  /** Against oneDNN's LSTM primitive forward (inference) at the same H, B, T. */
  bound: BoundShare;
}

export interface ScoreLongResult {
  config: string;
  characters: number;
  tokens: number;
  chunk: number;
  rnnlm: { tokPerSec: number; meanNll: number; runs: number };
  ort: OrtFigures<{ tokPerSec: number; meanNll: number; runs: number }>;
  ortRatio: number;
  /** |rnnlm's meanNll − onnxruntime's|: both must compute the same scores. */
  meanNllAbsDiff: number;
  pass: boolean;
}

export interface GenerateResult {
  config: string;
  rnnlmMsPerToken: number;
  torch: TorchFigures<{ msPerToken: number }>;
  /** torch's best ms/token ÷ rnnlm's (> 1: rnnlm faster). */
  ratio: number;
  ort: OrtFigures<{ msPerToken: number }>;
  /** onnxruntime's best ms/token ÷ rnnlm's (> 1: rnnlm faster). */
  ortRatio: number;
}

export interface CrossCheck {
  config: string;
  rnnlmLoss: number;
  torchLoss: number;
  lossAbsDiff: number;
  maxAbsDiff: number;
  tolerance: number;
  pass: boolean;
}

/** Training with dropout against the same without (bench/measures/dropout.ts). */
export interface DropoutResult {
  config: string;
  rate: number;
  withoutTokPerSec: number;
  withTokPerSec: number;
  /** withTokPerSec / withoutTokPerSec. */
  ratio: number;
}

export interface BenchResult {
  date: string;
  mode: 'quick' | 'full';
  machine: Machine;
  backend: string;
  /** The engine's native kernels as the backend reports them (null: tfjs alone). */
  nativeKernels: string | null;
  rnnlmThreads: number;
  tfjs: string;
  torchSettings: readonly string[];
  /** onnxruntime's session options at each setting. */
  ortSettings: Record<string, unknown>;
  train: TrainResult[];
  dropout: DropoutResult;
  score: ScoreResult;
  scoreLong: ScoreLongResult;
  generate: GenerateResult;
  service: ServiceRow[] | null;
  quality: { equalTime: QualityResult | null; equalSteps: QualityResult | null };
  crossCheck: CrossCheck;
  seconds: number;
}
