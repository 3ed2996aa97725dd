import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

import * as tf from '@tensorflow/tfjs';

import { runConfigSchema, type ModelConfig } from '../../src/ml/config.js';
import type { CellType } from '../../src/ml/model/layout.js';
import { RnnLm } from '../../src/ml/model/lm.js';
import { Rng } from '../../src/ml/rng.js';
import { trainTokenizer, type Tokenizer, type TokenizerType } from '../../src/ml/tokenizers/index.js';
import { writeModelDir } from '../../src/storage/artifacts.js';
import { SHAKESPEARE } from './ml.js';

export interface ModelDirFixture {
  dir: string;
  model: RnnLm;
  tokenizer: Tokenizer;
  config: ModelConfig;
}

/**
 * A model directory written by the store's own code path (what a finished job publishes),
 * with fresh random weights: exports read it exactly as they read a trained model's, and with
 * `dir` (a path in a models directory) the API lists and serves it as a published model.
 */
export async function writeTestModelDir(
  t: TestContext,
  options: {
    cell: CellType;
    tokenizer?: TokenizerType;
    layers?: number;
    tieWeights?: boolean;
    dir?: string;
  },
): Promise<ModelDirFixture> {
  let dir = options.dir;
  if (dir === undefined) {
    const root = await mkdtemp(join(tmpdir(), 'rnnlm-export-'));
    t.after(() => rm(root, { recursive: true, force: true }));
    dir = join(root, 'mdl_test');
  }
  const text = SHAKESPEARE.slice(0, 4000);
  const tokenizer = trainTokenizer(text, { type: options.tokenizer ?? 'char', vocabSize: 300 });
  const hidden = 12;
  const config: ModelConfig = {
    cell: options.cell,
    layers: options.layers ?? 2,
    hiddenSize: hidden,
    embeddingSize: options.tieWeights === true ? hidden : 7,
    dropout: 0,
    tieWeights: options.tieWeights ?? false,
    vocabSize: tokenizer.vocabSize,
  };
  // Every weight random, biases too, so a misplaced gate block or bias changes the numbers.
  const rng = new Rng(11);
  const weights = [...RnnLm.weightShapes(config)].map(([name, shape]) => ({
    name,
    shape,
    data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.float() - 0.5),
  }));
  const model = RnnLm.fromWeights(config, weights);
  t.after(() => model.dispose());
  const { vocabSize, ...spec } = config;
  const noMetrics = { trainLoss: null, valLoss: null, valPerplexity: null, valBitsPerChar: null };
  await writeModelDir(dir, {
    modelConfig: { ...config },
    weights,
    tokenizer: tokenizer.toJSON(),
    // What a listing reads of a published model's meta.json.
    meta: {
      name: `random-${options.cell}-${tokenizer.type}`,
      createdAt: new Date(0).toISOString(),
      backend: { name: 'none' },
      config: runConfigSchema.parse({ model: spec, tokenizer: { type: tokenizer.type } }),
      tokenizer: { type: tokenizer.type, vocabSize },
      parameters: RnnLm.parameterCount(config),
      metrics: { final: noMetrics, best: noMetrics },
    },
  });
  return { dir, model, tokenizer, config };
}

/** Reference logits [steps, vocab] and final state of rnnlm's own forward pass, batch 1. */
export function referenceRun(
  model: RnnLm,
  ids: number[],
  initial: Float32Array[],
): { logits: Float32Array; state: Float32Array[] } {
  return tf.tidy(() => {
    const h = model.config.hiddenSize;
    const lstm = model.config.cell === 'lstm';
    const state = Array.from({ length: model.config.layers }, (_, l) => ({
      h: tf.tensor2d(initial[lstm ? 2 * l : l] as Float32Array, [1, h]),
      c: lstm ? tf.tensor2d(initial[2 * l + 1] as Float32Array, [1, h]) : undefined,
    }));
    const run = model.logits(Int32Array.from(ids), ids.length, state);
    return {
      logits: run.logits.dataSync() as Float32Array,
      state: run.state
        .flatMap((s) => [s.h, ...(s.c === undefined ? [] : [s.c])])
        .map((x) => x.dataSync() as Float32Array),
    };
  });
}

/** Random initial states in export order (h0, c0, h1, c1, … for LSTM; h0, h1, … otherwise). */
export function randomStates(config: ModelConfig, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  const n = config.layers * (config.cell === 'lstm' ? 2 : 1);
  return Array.from({ length: n }, () =>
    Float32Array.from({ length: config.hiddenSize }, () => rng.float() - 0.5),
  );
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}
